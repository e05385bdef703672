"""Builds and installs DKMS kernel modules for every kernel in the image."""

from dibpy import BuildContext, post_install_hook
from dibpy.author import in_root

DEPENDS = ["package-installs"]
PACKAGES = {"dkms": None}


@post_install_hook(order=97)
def dkms(ctx: BuildContext) -> None:
    """dkms build and install of every registered module for every kernel with headers."""
    headers = in_root(ctx.target_root, "usr/src")
    kernels = (
        sorted(p.name.removeprefix("linux-headers-") for p in headers.glob("linux-headers-*"))
        if headers.is_dir()
        else []
    )
    status = ctx.chroot.run(["dkms", "status"], capture=True).stdout
    modules = sorted({line.split(",")[0].strip() for line in status.splitlines() if line.strip()})
    for module in modules:
        for kernel in kernels:
            ctx.chroot.run(["dkms", "build", module, "-k", kernel])
            ctx.chroot.run(["dkms", "install", module, "-k", kernel])
