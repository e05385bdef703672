"""Adds the EPEL repository (Extra Packages for Enterprise Linux) on AlmaLinux, CentOS and Rocky.

The port of DIB's ``epel``. On those distributions it installs ``epel-release`` with
``$YUM`` in the pre-install phase, disables the repository with ``DIB_EPEL_DISABLED=1``
(it stays usable with ``--enablerepo``), and points ``/etc/yum.repos.d/epel.repo`` at
``DIB_EPEL_MIRROR`` when set. Elsewhere (Debian, Ubuntu: the ironic ramdisk pulls it in
everywhere) it does nothing and says so; its ``wget`` and ``yum-utils`` map to no package.
"""

import logging
import re

from dibpy import BuildContext, ElementSettings, pre_install_hook, setting
from dibpy.author import in_root

DEPENDS = ["package-installs"]
PACKAGES = {"wget": {"phase": "pre-install"}, "yum-utils": {"phase": "pre-install"}}
SUPPORTED = ("almalinux", "centos", "rocky")
PKG_MAP = {
    "distro": {name: {"wget": "wget", "yum-utils": "yum-utils"} for name in SUPPORTED},
    "default": {"wget": "", "yum-utils": ""},
}
REPO_FILE = "etc/yum.repos.d/epel.repo"

log = logging.getLogger("dibpy.elements.epel")


class EpelSettings(ElementSettings):
    mirror: str = setting(
        "DIB_EPEL_MIRROR",
        "",
        "an EPEL mirror, the URL of the directory holding the release directories "
        "(e.g. http://dl.fedoraproject.org/pub/epel)",
    )
    disabled: int = setting(
        "DIB_EPEL_DISABLED", 0, "non-zero: disable the EPEL repository (usable with --enablerepo)"
    )
    distro: str = setting("DISTRO_NAME", "", "the distribution; EPEL is added only on RHEL's kin")
    yum: str = setting("YUM", "yum", "the package manager, yum or dnf (set by DIB's yum element)")


def use_mirror(repo: str, mirror: str) -> str:
    """``epel.repo`` with its commented-out ``baseurl`` lines pointing at ``mirror`` and its
    ``mirrorlist=``/``metalink=`` lines removed (DIB's sed expression)."""
    base = re.compile(r"^#baseurl=http[s]*://.*/pub/epel")
    kept = [
        base.sub(lambda _: f"baseurl={mirror}", line, count=1)
        for line in repo.splitlines(keepends=True)
        if not line.startswith(("mirrorlist=", "metalink="))
    ]
    return "".join(kept)


@pre_install_hook(order=5)
def rpm_epel_release(ctx: BuildContext) -> None:
    """Install epel-release; disable it or point it at a mirror if asked."""
    settings = ctx.settings(EpelSettings)
    if not any(name in settings.distro for name in SUPPORTED):
        log.info("%s is not supported", settings.distro)
        return
    ctx.chroot.run([settings.yum, "install", "-y", "epel-release"])
    if settings.disabled != 0:
        if settings.yum == "dnf":
            plugin, manager = "dnf-plugins-core", ["dnf", "config-manager", "--set-disabled"]
        else:
            plugin, manager = "yum-utils", ["yum-config-manager", "--disable"]
        with ctx.chroot.session():
            if ctx.chroot.run(["rpm", "-q", plugin], check=False).returncode != 0:
                ctx.chroot.run([settings.yum, "install", "-y", plugin])
            ctx.chroot.run([*manager, "epel*"])
    if settings.mirror:
        repo = in_root(ctx.target_root, REPO_FILE)
        repo.write_text(use_mirror(repo.read_text(), settings.mirror))
