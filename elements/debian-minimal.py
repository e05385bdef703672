"""Debian built from scratch with debootstrap, with apt sources from DIB_APT_SOURCES_CONF or
the release's default, updates and security suites."""

from dibpy import BuildContext, ElementSettings, SettingsError, apt, root_hook, setting
from dibpy.author import AptDistroSettings, write_file

DEPENDS = ["debootstrap", "pkg-map"]
PROVIDES = ["operating-system"]
ENVIRONMENT = {
    "DISTRO_NAME": "debian",
    "DIB_RELEASE": "stable",
    "DIB_DEBIAN_COMPONENTS": "main",
    "DIB_INIT_SYSTEM": "systemd",
    "EFI_BOOT_DIR": "EFI/debian",
}

ROLLING = ("testing", "unstable", "sid")
BASE_PACKAGES = ["systemd-sysv", "busybox", "sudo", "gnupg2", "python3"]

PACKAGES = {
    "linux-image-amd64": {"arch": "amd64"},
    "linux-image-arm64": {"arch": "arm64"},
    "netbase": None,
}


class DebianSourcesSettings(ElementSettings):
    sources_conf: str = setting(
        "DIB_APT_SOURCES_CONF", "", "lines NAME:deb ..., one sources.list.d file each"
    )
    security_mirror: str = setting(
        "DIB_DEBIAN_SECURITY_MIRROR",
        "http://deb.debian.org/debian-security",
        "the Debian security archive",
    )
    security_subpath: str = setting(
        "DIB_DEBIAN_SECURITY_SUBPATH",
        "-security",
        "suffix of the security suite (/updates before bullseye)",
    )


def sources(
    distro: AptDistroSettings, settings: DebianSourcesSettings, arch: str
) -> dict[str, str]:
    """name -> sources.list line, from DIB_APT_SOURCES_CONF or Debian's defaults."""
    if settings.sources_conf:
        found = {}
        for line in settings.sources_conf.splitlines():
            if not line.strip():
                continue
            name, sep, spec = line.partition(":")
            if not sep or not name.strip() or not spec.strip():
                raise SettingsError(
                    f"DIB_APT_SOURCES_CONF line {line!r} is not NAME:deb URL SUITE COMPONENTS."
                )
            found[name.strip()] = spec.strip()
        return found
    mirror, release = distro.mirror_for(arch), distro.release
    components = " ".join(distro.component_list)
    found = {"default": f"deb {mirror} {release} {components}"}
    if release not in ROLLING:
        found["updates"] = f"deb {mirror} {release}-updates {components}"
        found["security"] = (
            f"deb {settings.security_mirror} {release}{settings.security_subpath} {components}"
        )
    return found


@root_hook(order=75)
def debian_minimal_baseinstall(ctx: BuildContext) -> None:
    """Write etc/apt/sources.list.d/<name>.list for each source, then update, upgrade and
    install the base system: systemd-sysv, busybox, sudo, gnupg2, python3 (apt.base_install)."""
    distro = ctx.settings(AptDistroSettings)
    for name, line in sources(distro, ctx.settings(DebianSourcesSettings), ctx.arch).items():
        write_file(ctx.target_root, f"etc/apt/sources.list.d/{name}.list", line + "\n")
    apt.base_install(ctx, BASE_PACKAGES)
