"""Prepares the image to be a template: clears the machine id and other per-host state."""

from dibpy import BuildContext, finalise_hook
from dibpy.author import in_root


@finalise_hook(order=99)
def clear_machine_id(ctx: BuildContext) -> None:
    """Empty /var/lib/dbus/machine-id and set /etc/machine-id to "uninitialized" (systemd's
    first-boot marker), where they exist."""
    dbus = in_root(ctx.target_root, "var/lib/dbus/machine-id")
    if dbus.is_file():
        dbus.write_text("")
    machine_id = in_root(ctx.target_root, "etc/machine-id")
    if machine_id.is_file():
        machine_id.write_text("uninitialized\n")
