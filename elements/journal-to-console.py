"""Sends systemd's journal to the console, to debug a host before you can log into it.

The port of DIB's ``journal-to-console``: ``/etc/systemd/journald.conf.d/log-to-console.conf``
sets ``ForwardToConsole=true``, so network or login problems show in the console log (for
instance ``openstack console log show SERVER``). No variables.
"""

from dibpy import BuildContext, post_install_hook
from dibpy.author import make_dirs, write_file

CONF = "etc/systemd/journald.conf.d/log-to-console.conf"


@post_install_hook(order=30)
def journal_to_console(ctx: BuildContext) -> None:
    """Write journald's drop-in forwarding every message to the console."""
    make_dirs(ctx.target_root, "etc/systemd/journald.conf.d")
    write_file(ctx.target_root, CONF, "[Journal]\nForwardToConsole=true\n")
