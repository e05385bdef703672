"""The baseline every image gets: baseline tools, an up-to-date package set, the cloud-init
configuration directory and the shared ccache mount. Added unless `-n` is given."""

from pathlib import Path

from dibpy import (
    BuildContext,
    ElementSettings,
    apt,
    install_hook,
    pre_install_hook,
    root_hook,
    setting,
)
from dibpy.author import in_root, map_names, parse_bool, write_file

DEPENDS = ["dib-init-system", "install-types", "pkg-map"]
ENVIRONMENT = {"DIB_AVOID_PACKAGES_UPDATE": "0", "DIB_SKIP_BASE_PACKAGE_INSTALL": "0"}
PKG_MAP = {
    "default": {"iscsi_package": "open-iscsi"},
    "family": {"redhat": {"iscsi_package": "iscsi-initiator-utils"}},
}
CCACHE_TARGET = "tmp/ccache"
# Releases whose software-properties-common DIB does not install.
NO_SOFTWARE_PROPERTIES = ("testing", "trixie", "unstable", "stable")


class BaseSettings(ElementSettings):
    ccache_dir: Path | None = setting(
        "DIB_CCACHE_DIR", None, "ccache directory (default <image cache>/ccache)"
    )
    distro: str = setting("DISTRO_NAME", "")
    release: str = setting("DIB_RELEASE", "")
    avoid_update: str = setting("DIB_AVOID_PACKAGES_UPDATE", "0", "1: no dist-upgrade")
    skip_base_packages: str = setting(
        "DIB_SKIP_BASE_PACKAGE_INSTALL", "0", "1: do not install open-iscsi"
    )
    etc_hosts: str = setting(
        "DIB_CLOUD_INIT_ETC_HOSTS", "", "cloud-init's manage_etc_hosts value, if set"
    )

    @property
    def debian_family(self) -> bool:
        return self.distro in ("debian", "ubuntu")


@root_hook(order=1)
def ccache(ctx: BuildContext) -> None:
    """Mount the shared ccache directory (the image cache's ccache area, or DIB_CCACHE_DIR)
    at /tmp/ccache; the build releases it when the tree phases end."""
    tmp = in_root(ctx.target_root, "tmp")
    if not tmp.exists():
        tmp.mkdir()
        tmp.chmod(0o1777)
    own_dir = ctx.settings(BaseSettings).ccache_dir
    if own_dir is None:
        ctx.cache.mount(ctx.cache.area("ccache"), CCACHE_TARGET)
    else:
        own_dir.mkdir(parents=True, exist_ok=True)
        ctx.mounts.bind(own_dir, CCACHE_TARGET)


@pre_install_hook(order=3)
def baseline_tools(ctx: BuildContext) -> None:
    """Debian family: apt-get update, apt-transport-https, software-properties-common
    (not for stable, testing, trixie, unstable)."""
    settings = ctx.settings(BaseSettings)
    if not settings.debian_family:
        return
    with ctx.chroot.session():
        apt.update(ctx)
        apt.install(ctx, ["apt-transport-https"])
        if not settings.release.startswith(NO_SOFTWARE_PROPERTIES):
            apt.install(ctx, ["software-properties-common"])


@install_hook(order=0)
def baseline_environment(ctx: BuildContext) -> None:
    """Install the iSCSI initiator, unless DIB_SKIP_BASE_PACKAGE_INSTALL=1."""
    settings = ctx.settings(BaseSettings)
    if parse_bool("DIB_SKIP_BASE_PACKAGE_INSTALL", settings.skip_base_packages):
        return
    apt.install(ctx, map_names(["iscsi_package"], PKG_MAP, settings.distro, settings.release))


@install_hook(order=0)
def up_to_date(ctx: BuildContext) -> None:
    """apt-get dist-upgrade, unless DIB_AVOID_PACKAGES_UPDATE=1."""
    if not parse_bool("DIB_AVOID_PACKAGES_UPDATE", ctx.settings(BaseSettings).avoid_update):
        apt.dist_upgrade(ctx)


@install_hook(order=10)
def cloud_init(ctx: BuildContext) -> None:
    """Create /etc/cloud/cloud.cfg.d; write manage_etc_hosts if DIB_CLOUD_INIT_ETC_HOSTS is set."""
    in_root(ctx.target_root, "etc/cloud/cloud.cfg.d").mkdir(parents=True, exist_ok=True)
    hosts = ctx.settings(BaseSettings).etc_hosts
    if hosts:
        write_file(
            ctx.target_root,
            "etc/cloud/cloud.cfg.d/10_etc_hosts.cfg",
            f"manage_etc_hosts: {hosts}\n",
        )
