"""Kernel module blacklists: DIB_MODPROBE_BLACKLIST, one `blacklist` line per module."""

from dibpy import BuildContext, ElementSettings, install_hook, setting
from dibpy.author import in_root


class ModprobeSettings(ElementSettings):
    blacklist: str = setting("DIB_MODPROBE_BLACKLIST", "", "modules to blacklist, space-separated")


@install_hook(order=80)
def modprobe_blacklist(ctx: BuildContext) -> None:
    """Append `blacklist MODULE` to /etc/modprobe.d/blacklist.conf for each module."""
    modules = ctx.settings(ModprobeSettings).blacklist.split()
    if not modules:
        return
    conf = in_root(ctx.target_root, "etc/modprobe.d/blacklist.conf")
    conf.parent.mkdir(parents=True, exist_ok=True)
    with conf.open("a") as out:
        out.writelines(f"blacklist {module}\n" for module in modules)
