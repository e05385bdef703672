"""Grows the root partition and its file system to fill the disk, at first boot.

The port of DIB's ``growroot``: ``static/usr/local/sbin/growroot`` (installed by
install-static) finds the root partition through udev, grows it with ``growpart`` and the
file system with ``resize2fs``; ``init-scripts/`` run it at boot (the systemd unit
``growroot.service``, an upstart job on local-filesystems, an openrc script; installed by
dib-init-system). Post-install 80 enables the systemd unit; openrc's script is added to
the default runlevel by dib-init-system, upstart's job starts by itself.

``growpart`` (``cloud-utils`` on Debian and Ubuntu) and ``e2fsprogs`` are installed.
DIB's script fails on ``DIB_INIT_SYSTEM=sysv``; here that is refused before the build.
"""

from typing import Literal

from dibpy import BuildContext, ElementSettings, post_install_hook, setting

DEPENDS = ["dib-init-system", "install-static", "package-installs"]
PACKAGES = {"growpart": None, "e2fsprogs": None}
PKG_MAP = {
    "family": {
        "redhat": {"growpart": "cloud-utils-growpart", "e2fsprogs": "e2fsprogs"},
        "debian": {"growpart": "cloud-utils", "e2fsprogs": "e2fsprogs"},
        "suse": {"growpart": "growpart", "e2fsprogs": "e2fsprogs"},
        "gentoo": {"growpart": "sys-fs/growpart", "e2fsprogs": "sys-fs/e2fsprogs"},
    }
}


class GrowrootSettings(ElementSettings):
    init_system: Literal["upstart", "openrc", "systemd"] = setting(
        "DIB_INIT_SYSTEM", "systemd", "the image's init system (growroot has no sysv script)"
    )


@post_install_hook(order=80)
def growroot(ctx: BuildContext) -> None:
    """systemd: enable growroot.service."""
    if ctx.settings(GrowrootSettings).init_system == "systemd":
        ctx.chroot.run(["systemctl", "enable", "growroot.service"])
