"""Block device layout: an MBR partition table with one bootable ext4 root partition."""

PROVIDES = ["block-device"]
