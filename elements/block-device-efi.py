"""Block device layout: GPT with an EFI system partition (EF00, vfat), a BIOS boot partition and
an ext4 root, for UEFI (and hybrid BIOS) boot."""

from dibpy.blockdev.defaults import EFI

PROVIDES = ["block-device"]
ENVIRONMENT = {"DIB_BLOCK_DEVICE": "efi"}
UNSUPPORTED_ARCHES = ("ppc64el",)

BLOCK_DEVICE_CONFIG = EFI  # DIB's block-device-default.yaml of this element
