"""Making a disk image bootable, in two steps around ``dibpy.blockdev.disk.assemble_disk``.

``prepare_bootloader`` runs on the finished tree *before* the file systems are made (it puts
grub.cfg, GRUB's modules, core.img and the ESP's loader files in the tree, and edits
``/etc/default/grub``); ``finish_bootloader`` runs on the assembled image *after* (boot.img
and core.img outside the file systems). ``grub`` (beside this module) has the details::

    prepared = prepare_bootloader(tree, layout, runner, GrubOptions.from_environment(env))
    assemble_disk(layout, tree, image, runner)
    finish_bootloader(image, layout, prepared)

Which firmware is served follows the layout, as DIB's ``DIB_BLOCK_DEVICE`` does: an MBR
disk, or a GPT disk with a BIOS boot partition (EF02), gets GRUB for BIOS; a disk with an
ESP (EF00, mounted at /boot/efi) gets GRUB for UEFI; DIB's ``block-device-efi`` layout has
both and boots either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dibpy import BuildError
from dibpy.author import BIOS_BOOT_GUID, DiskLayout, Runner, gpt_type_guid

from .grub import (
    DEFAULT_OPTIONS,
    BiosBoot,
    BootloaderError,
    GrubOptions,
    Kernel,
    bios_boot_partition,
    esp_filesystem,
    find_kernels,
    grub_cfg,
    install_efi,
    prepare_bios,
    write_bios_boot,
    write_default_grub,
    write_grub_cfg,
)

__all__ = [
    "BiosBoot",
    "BootloaderError",
    "GrubOptions",
    "Kernel",
    "PreparedBoot",
    "bios_boot_partition",
    "esp_filesystem",
    "find_kernels",
    "finish_bootloader",
    "firmware_for",
    "grub_cfg",
    "install_efi",
    "prepare_bios",
    "prepare_bootloader",
    "write_bios_boot",
    "write_default_grub",
    "write_grub_cfg",
]


@dataclass(frozen=True)
class PreparedBoot:
    """What ``prepare_bootloader`` did; ``finish_bootloader`` completes it on the image."""

    bios: BiosBoot | None
    efi: bool


def firmware_for(layout: DiskLayout) -> tuple[bool, bool]:
    """(BIOS, UEFI) the layout can be booted with."""
    efi = esp_filesystem(layout) is not None
    if layout.table == "mbr":
        return True, efi
    if layout.table == "gpt":
        bios = False
        for part in layout.partitions:
            try:
                bios = bios or gpt_type_guid(part.type_code) == BIOS_BOOT_GUID
            except BuildError:
                continue
        return bios, efi
    return False, False


def prepare_bootloader(
    tree: Path,
    layout: DiskLayout,
    runner: Runner,
    options: GrubOptions = DEFAULT_OPTIONS,
    *,
    bios: bool | None = None,
    efi: bool | None = None,
    arch: str = "amd64",
) -> PreparedBoot:
    """Set GRUB up in ``tree`` for ``layout`` (before ``assemble_disk``).

    ``bios``/``efi`` default to what the layout supports (``firmware_for``); BIOS boot is
    only for x86 (``arch`` amd64/i386/x86_64).
    """
    can_bios, can_efi = firmware_for(layout)
    can_bios = can_bios and arch in ("amd64", "i386", "x86_64")
    bios = can_bios if bios is None else bios
    efi = can_efi if efi is None else efi
    if not bios and not efi:
        raise BootloaderError(
            f"Disk {layout.name} cannot be made bootable: it needs an MBR table, a BIOS boot "
            "partition (EF02) on GPT, or an EFI system partition (EF00) mounted at /boot/efi."
        )
    write_default_grub(tree, options, root_device=f"UUID={layout.root.uuid}")
    prepared_bios = prepare_bios(tree, layout, runner, options) if bios else None
    if efi:
        install_efi(tree, layout, runner, options, arch=arch)
    else:
        write_grub_cfg(tree, layout, options)
    return PreparedBoot(bios=prepared_bios, efi=efi)


def finish_bootloader(image: Path, layout: DiskLayout, prepared: PreparedBoot) -> None:
    """Write what lives outside the file systems (after ``assemble_disk``)."""
    if prepared.bios is not None:
        write_bios_boot(image, layout, prepared.bios)
