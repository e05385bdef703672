"""Block device layout: an MBR partition table with one bootable ext4 root partition."""

from dibpy.blockdev.defaults import MBR

PROVIDES = ["block-device"]
ENVIRONMENT = {"DIB_BLOCK_DEVICE": "mbr"}
UNSUPPORTED_ARCHES = ("arm64",)

BLOCK_DEVICE_CONFIG = MBR  # DIB's block-device-default.yaml of this element
