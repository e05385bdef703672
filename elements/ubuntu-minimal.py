"""Ubuntu built from scratch with debootstrap: a smaller image than the cloud image.

Root hook 75 writes etc/apt/sources.list for the release and its pockets
(DIB_UBUNTU_MIRROR_DISTS, default updates,security,backports)."""

from dibpy import BuildContext, ElementSettings, root_hook, setting
from dibpy.distro import AptDistroSettings
from dibpy.rootfs import write_file

DEPENDS = ["debootstrap", "package-installs", "ubuntu-common"]
PROVIDES = ["operating-system"]
ENVIRONMENT = {"DIB_UBUNTU_KERNEL": "linux-image-generic"}


class UbuntuMirrorSettings(ElementSettings):
    pockets: str = setting(
        "DIB_UBUNTU_MIRROR_DISTS", "updates,security,backports", "pockets added after the release"
    )


@root_hook(order=75)
def ubuntu_apt_sources(ctx: BuildContext) -> None:
    """Write etc/apt/sources.list: the release and each pocket, from one mirror."""
    distro = ctx.settings(AptDistroSettings)
    mirror, components = distro.mirror_for(ctx.arch), " ".join(distro.component_list)
    suites = [distro.release] + [
        f"{distro.release}-{p}" for p in ctx.settings(UbuntuMirrorSettings).pockets.split(",") if p
    ]
    lines = "".join(f"deb {mirror} {suite} {components}\n" for suite in suites)
    write_file(ctx.target_root, "etc/apt/sources.list", lines)
