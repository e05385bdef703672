"""Kernel module options: every element's ``modprobe.d/*.conf`` copied into
/etc/modprobe.d, and DIB_MODPROBE_BLACKLIST, one `blacklist` line per module."""

from dibpy import BuildContext, ElementSettings, extra_data_hook, install_hook, setting
from dibpy.author import in_root, install_file, make_dirs


class ModprobeSettings(ElementSettings):
    blacklist: str = setting("DIB_MODPROBE_BLACKLIST", "", "modules to blacklist, space-separated")


@extra_data_hook(order=50)
def copy_modprobe_files(ctx: BuildContext) -> None:
    """Copy the elements' ``modprobe.d/*.conf`` files into /etc/modprobe.d (made if missing)."""
    make_dirs(ctx.target_root, "etc/modprobe.d")
    folder = ctx.hooks_path / "modprobe.d"
    for conf in sorted(folder.glob("*.conf")) if folder.is_dir() else ():
        install_file(ctx.target_root, conf, f"etc/modprobe.d/{conf.name}")


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
