"""Ubuntu built from scratch with debootstrap: a smaller image than the cloud image.

Root hook 75 writes etc/apt/sources.list for the release and its pockets
(DIB_UBUNTU_MIRROR_DISTS, default updates,security,backports)."""

from dibpy import BuildContext, ElementSettings, apt, root_hook, setting
from dibpy.author import AptDistroSettings, write_file

DEPENDS = ["debootstrap", "package-installs", "ubuntu-common"]
PROVIDES = ["operating-system"]
ENVIRONMENT = {"DIB_UBUNTU_KERNEL": "linux-image-generic"}
BASE_PACKAGES = ["systemd-sysv", "busybox", "sudo", "python3"]
# DIB's ubuntu-minimal/package-installs.yaml: the kernel DIB_UBUNTU_KERNEL names, where
# linux-image-hwe is the release's HWE kernel (and arm64 xenial always took the HWE one).
PACKAGES = {
    "linux-image-generic": [
        {"not-arch": "arm64", "when": "DIB_UBUNTU_KERNEL = linux-image-generic"},
        {
            "arch": "arm64",
            "when": ["DIB_RELEASE != xenial", "DIB_UBUNTU_KERNEL = linux-image-generic"],
        },
    ],
    "linux-generic-hwe-16.04": {
        "arch": "arm64",
        "when": ["DIB_RELEASE = xenial", "DIB_UBUNTU_KERNEL = linux-image-generic"],
    },
    "linux-image-kvm": {"when": "DIB_UBUNTU_KERNEL = linux-image-kvm", "not-arch": "arm64"},
    "linux-image-virtual": {"when": "DIB_UBUNTU_KERNEL = linux-image-virtual"},
    "linux-generic-hwe-18.04": {
        "when": ["DIB_UBUNTU_KERNEL = linux-image-hwe", "DIB_RELEASE = bionic"]
    },
    "linux-generic-hwe-20.04": {
        "when": ["DIB_UBUNTU_KERNEL = linux-image-hwe", "DIB_RELEASE = focal"]
    },
    "linux-generic-hwe-22.04": {
        "when": ["DIB_UBUNTU_KERNEL = linux-image-hwe", "DIB_RELEASE = jammy"]
    },
    "linux-generic-hwe-24.04": {
        "when": ["DIB_UBUNTU_KERNEL = linux-image-hwe", "DIB_RELEASE = noble"]
    },
    "initramfs-tools": None,
}


class UbuntuMirrorSettings(ElementSettings):
    pockets: str = setting(
        "DIB_UBUNTU_MIRROR_DISTS", "updates,security,backports", "pockets added after the release"
    )


@root_hook(order=75)
def ubuntu_minimal_baseinstall(ctx: BuildContext) -> None:
    """Write etc/apt/sources.list (the release and each pocket), then update, upgrade and
    install the base system: systemd-sysv, busybox, sudo, python3 (apt.base_install)."""
    distro = ctx.settings(AptDistroSettings)
    mirror, components = distro.mirror_for(ctx.arch), " ".join(distro.component_list)
    suites = [distro.release] + [
        f"{distro.release}-{p}" for p in ctx.settings(UbuntuMirrorSettings).pockets.split(",") if p
    ]
    lines = "".join(f"deb {mirror} {suite} {components}\n" for suite in suites)
    write_file(ctx.target_root, "etc/apt/sources.list", lines)
    apt.base_install(ctx, BASE_PACKAGES)
