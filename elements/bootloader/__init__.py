"""Installs GRUB 2 into the image (BIOS and UEFI) with a serial-console kernel command line.

The finalise hook installs the image's GRUB packages and writes /etc/default/grub so that
`update-grub` works in the running machine. What DIB's `grub-install` writes against the
loop device dibpy writes itself once the disk layout is known: grub.cfg naming root by UUID,
core.img built by the image's own grub-mkimage, boot.img in the MBR (BIOS), and shim with
the signed GRUB (or a grub-mkimage build) on the ESP (UEFI). See grub.py beside this file.
"""

import logging
from pathlib import Path

from dibpy import BuildContext, ElementSettings, SettingsError, apt, finalise_hook, setting
from dibpy.author import DiskLayout, map_names

from . import grub
from .boot import finish_bootloader, prepare_bootloader

# Virtual package names, as DIB's bootloader pkg-map has them (plus shim and signed GRUB).
PKG_MAP = {
    "default": {
        "grub-pc": "grub-pc",
        "grub-efi": "efibootmgr",
        "grub-efi-amd64": "grub-efi-amd64 grub-efi-amd64-signed shim-signed grub-pc-bin",
        "grub-efi-arm64": "grub-efi-arm64 grub-efi-arm64-bin",
    }
}
log = logging.getLogger("dibpy.elements.bootloader")

# grub-pc's postinst must not try to install to a disk inside the chroot.
GRUB_PC_SELECTIONS = (
    "grub-pc grub-pc/install_devices multiselect \n"
    "grub-pc grub-pc/install_devices_empty boolean true\n"
)


class BootloaderSettings(ElementSettings):
    block_device: str = setting("DIB_BLOCK_DEVICE", "", "mbr, gpt or efi (set by block-device-*)")
    skip_packages: str = setting(
        "DIB_SKIP_GRUB_PACKAGE_INSTALL", "False", "True: GRUB is already in the image"
    )
    extlinux: str = setting("DIB_EXTLINUX", "0", "not supported (as in DIB)")
    distro: str = setting("DISTRO_NAME", "")
    release: str = setting("DIB_RELEASE", "")


def grub_packages(block_device: str, arch: str) -> list[str]:
    if block_device in ("mbr", "gpt"):
        return ["grub-pc"]
    if block_device == "efi":
        return ["grub-efi", f"grub-efi-{arch}"]
    return ["grub-pc", "grub-efi", f"grub-efi-{arch}"]


@finalise_hook(order=50)
def bootloader(ctx: BuildContext) -> None:
    """Install GRUB's packages, write /etc/default/grub, and arrange for grub.cfg and the
    boot code to be written once the disk layout is known."""
    settings = ctx.settings(BootloaderSettings)
    if settings.extlinux not in ("", "0"):
        raise SettingsError("DIB_EXTLINUX is not supported (DIB removed extlinux); unset it.")
    if settings.skip_packages.lower() not in ("true", "1", "yes"):
        packages = map_names(
            grub_packages(settings.block_device, ctx.arch),
            PKG_MAP,
            settings.distro,
            settings.release,
        )
        with ctx.chroot.session():
            ctx.chroot.run(["debconf-set-selections"], input=GRUB_PC_SELECTIONS)
            apt.install(ctx, packages)
    options = grub.GrubOptions.from_environment(ctx.env)
    tree = ctx.target_root

    def prepare(layout: DiskLayout) -> None:
        grub.write_default_grub(tree, options, root_device=f"UUID={layout.root.uuid}")
        if layout.table is None:
            log.warning("The disk has no partition table: no bootloader installation will occur")
            grub.write_grub_cfg(tree, layout, options)
            return
        prepared = prepare_bootloader(tree, layout, ctx.runner, options, arch=ctx.arch)

        def finish(image: Path, placed: DiskLayout) -> None:
            finish_bootloader(image, placed, prepared)

        ctx.disk.after_assembly(finish)

    ctx.disk.before_assembly(prepare)
