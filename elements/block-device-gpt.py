"""Block device layout: GPT with an 8 MiB BIOS boot partition (EF02) and an ext4 root."""

PROVIDES = ["block-device"]
