"""Starts a getty on the active serial consoles, for remote consoles (ILO and the like).

The port of DIB's ``enable-serial-console``, in the install phase, by ``DIB_INIT_SYSTEM``:

- systemd: a udev rule (``/etc/udev/rules.d/99-serial-console.rules``) starts
  ``getty@ttySN.service`` on every serial port that appears;
- upstart: the job ``/etc/init/ttySx.conf`` runs a getty on ttyS1 if it answers, else ttyS0;
- openrc: ``/etc/inittab``'s commented ttyS0/ttyS1 lines are enabled and a getty line is
  added for ``DIB_BOOTLOADER_SERIAL_CONSOLE``, by default ``hvc0`` on POWER, ``ttyAMA0`` on
  arm64 and ``ttyS0`` elsewhere.

(DIB's ``cleanup.d/99-fix-grub`` is not executable, so DIB never runs it; neither does
this port.)
"""

import re

from dibpy import BuildContext, BuildError, ElementSettings, install_hook, setting
from dibpy.author import in_root, make_dirs, write_file

UDEV_RULE = (
    'SUBSYSTEM=="tty", ACTION=="add", TAG+="systemd", '
    'ENV{SYSTEMD_WANTS}+="getty@$name.service", ATTRS{type}=="4"\n'
)
UPSTART_JOB = """\
# This service maintains a getty on ttyS0/1 from the point the system is
# started until it is shut down again.

start on stopped rc or RUNLEVEL=[2345]
stop on runlevel [!2345]

respawn

script
        console_port=0
        echo "ttySx probing ttyS1" >/dev/ttyS1 2>/dev/null && console_port=1
        echo "ttySx:  console tty = /dev/ttyS$console_port" >&2
        exec /sbin/agetty -m ttyS$console_port 115200,57600,38400,9600,4800 vt102

end script
"""
COMMENTED_SERIAL = re.compile(r"^#(.*ttyS[0,1].*)$", re.MULTILINE)


class SerialConsoleSettings(ElementSettings):
    init_system: str = setting("DIB_INIT_SYSTEM", "systemd", "the image's init system")
    console: str = setting(
        "DIB_BOOTLOADER_SERIAL_CONSOLE",
        "",
        "openrc: the getty's console; default hvc0 on POWER, ttyAMA0 on arm64, else ttyS0",
    )


def default_console(arch: str) -> str:
    """The serial console of ``arch`` (DIB's ``=~`` tests: ``arch`` within the words)."""
    if arch in "powerpc ppc64 ppc64le":
        return "hvc0"
    if arch in "arm64":
        return "ttyAMA0"
    return "ttyS0"


def with_serial_getty(inittab: str, console: str) -> str:
    """``inittab`` with its commented ttyS0/ttyS1 lines enabled and a getty on ``console``."""
    enabled = COMMENTED_SERIAL.sub(r"\1", inittab)
    getty = f"s0:12345:respawn:/sbin/agetty -L 115200 {console} vt100\n"
    return f"{enabled}# diskimage-builder serial console\n{getty}"


@install_hook(order=20)
def serial_console(ctx: BuildContext) -> None:
    """Set up a getty on the serial console for the image's init system."""
    settings = ctx.settings(SerialConsoleSettings)
    root = ctx.target_root
    if settings.init_system == "upstart":
        make_dirs(root, "etc/init")
        write_file(root, "etc/init/ttySx.conf", UPSTART_JOB)
    elif settings.init_system == "systemd":
        make_dirs(root, "etc/udev/rules.d")
        write_file(root, "etc/udev/rules.d/99-serial-console.rules", UDEV_RULE)
    elif settings.init_system == "openrc":
        inittab = in_root(root, "etc/inittab")
        if not inittab.is_file():
            raise BuildError(
                "enable-serial-console: DIB_INIT_SYSTEM is openrc but the image has no "
                "/etc/inittab to add the serial getty to. Install the init system first, or "
                "set DIB_INIT_SYSTEM to the image's init system."
            )
        console = settings.console or default_console(ctx.arch)
        inittab.write_text(with_serial_getty(inittab.read_text(), console))
