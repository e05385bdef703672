"""A partitioned, bootable disk image: pulls in a block-device layout and the bootloader.

Naming `vm` on the command line also adds the architecture's default block device
(block-device-mbr, or block-device-efi on arm64) unless a block-device-* element is named."""

DEPENDS = ["block-device", "bootloader"]
