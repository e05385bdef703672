"""Block device layout: GPT with an EFI system partition (EF00, vfat), a BIOS boot partition and
an ext4 root, for UEFI (and hybrid BIOS) boot."""

PROVIDES = ["block-device"]
