"""Stable network interface names (em1, em2, ...): installs biosdevname and re-enables udev's
slot naming.

The port of DIB's ``stable-interface-names``: ``biosdevname`` is installed, and in the
install phase ``/etc/udev/rules.d/80-net-name-slot.rules`` is removed when it is a symbolic
link (a link to ``/dev/null`` there disables the rules). No variables.
"""

from dibpy import BuildContext, install_hook
from dibpy.author import in_root, remove_file

DEPENDS = ["package-installs"]
PACKAGES = {"biosdevname": None}
NET_NAME_SLOT = "etc/udev/rules.d/80-net-name-slot.rules"


@install_hook(order=2)
def stable_interface_names(ctx: BuildContext) -> None:
    """Remove the link that disables udev's 80-net-name-slot rules, if there is one."""
    if in_root(ctx.target_root, NET_NAME_SLOT, follow_final=False).is_symlink():
        remove_file(ctx.target_root, NET_NAME_SLOT)
