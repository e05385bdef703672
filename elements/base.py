"""The baseline every image gets: baseline tools, an up-to-date package set, the cloud-init
configuration directory and the shared ccache mount. Added unless `-n` is given."""

from pathlib import Path

from dibpy import BuildContext, ElementSettings, root_hook, setting
from dibpy.mounts import is_mounted
from dibpy.rootfs import in_root

DEPENDS = ["dib-init-system", "install-types", "pkg-map"]


class BaseSettings(ElementSettings):
    ccache_dir: Path | None = setting(
        "DIB_CCACHE_DIR", None, "ccache directory (default <image cache>/ccache)"
    )


@root_hook(order=1)
def ccache(ctx: BuildContext) -> None:
    """Bind-mount the shared ccache directory at /tmp/ccache (unless already mounted);
    the build releases it when the tree phases end."""
    target = in_root(ctx.target_root, "tmp/ccache")
    if is_mounted(target):
        return
    source = ctx.settings(BaseSettings).ccache_dir or ctx.image_cache / "ccache"
    source.mkdir(parents=True, exist_ok=True)
    tmp = in_root(ctx.target_root, "tmp")
    if not tmp.exists():
        tmp.mkdir()
        tmp.chmod(0o1777)
    target.mkdir(parents=True, exist_ok=True)
    ctx.bind_mount(source, target)
