"""Block device layout: GPT with an 8 MiB BIOS boot partition (EF02) and an ext4 root."""

from dibpy.blockdev.defaults import GPT

PROVIDES = ["block-device"]
ENVIRONMENT = {"DIB_BLOCK_DEVICE": "gpt"}
UNSUPPORTED_ARCHES = ("arm64",)

BLOCK_DEVICE_CONFIG = GPT  # DIB's block-device-default.yaml of this element
