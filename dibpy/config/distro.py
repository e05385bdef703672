"""Settings shared by the Debian-family elements (debootstrap, debian-minimal,
ubuntu-minimal): which distribution, release, mirror and components."""

from __future__ import annotations

from dibpy.config.settings import ElementSettings, setting

UBUNTU_PORTS_ARCHES = ("arm64", "armhf", "ppc64el", "s390x", "riscv64")


class AptDistroSettings(ElementSettings):
    distro: str = setting("DISTRO_NAME", description="debian or ubuntu (set by the OS element)")
    release: str = setting("DIB_RELEASE", description="release codename or suite")
    mirror: str = setting("DIB_DISTRIBUTION_MIRROR", "", "the package mirror")
    debian_mirror: str = setting(
        "DIB_DEBIAN_DISTRIBUTION_MIRROR",
        "",
        "Debian mirror, when DIB_DISTRIBUTION_MIRROR is not set",
    )
    components: str = setting("DIB_DEBIAN_COMPONENTS", "main", "comma-separated components")

    def mirror_for(self, arch: str) -> str:
        """DIB's default mirrors: deb.debian.org, and Ubuntu's archive or ports by arch."""
        if self.mirror:
            return self.mirror
        if self.distro == "ubuntu":
            if arch in UBUNTU_PORTS_ARCHES:
                return "http://ports.ubuntu.com/ubuntu-ports"
            return "http://archive.ubuntu.com/ubuntu"
        return self.debian_mirror or "http://deb.debian.org/debian"

    @property
    def component_list(self) -> list[str]:
        return [c for c in self.components.replace(",", " ").split() if c]
