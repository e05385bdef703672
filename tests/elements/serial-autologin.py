"""Test element: root is logged in on the serial console (ttyS0) without a password, so a
test can type commands into the booted image. Never for real images."""

from dibpy import BuildContext, post_install_hook
from dibpy.tree.paths import write_file

# Debian 12's serial-getty@.service ExecStart with --autologin root added.
AUTOLOGIN = """[Service]
ExecStart=
ExecStart=-/sbin/agetty --autologin root --keep-baud 115200,57600,38400,9600 - $TERM
"""


@post_install_hook(order=90)
def autologin_on_serial_console(ctx: BuildContext) -> None:
    """A drop-in for serial-getty@ttyS0 that logs root in."""
    write_file(
        ctx.target_root,
        "etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf",
        AUTOLOGIN,
    )
