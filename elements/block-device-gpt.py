"""Block device layout: GPT with an 8 MiB BIOS boot partition (EF02) and an ext4 root."""

PROVIDES = ["block-device"]
ENVIRONMENT = {"DIB_BLOCK_DEVICE": "gpt"}
UNSUPPORTED_ARCHES = ("arm64",)

# DIB's block-device-default.yaml of this element (DIB-SPEC 3.3 and 3.7.6).
BLOCK_DEVICE_CONFIG = """\
# Default single partition loopback using a GPT based partition table
- local_loop:
    name: image0

- partitioning:
    base: image0
    label: gpt
    partitions:
      - name: BSP
        type: 'EF02'
        size: 8MiB
      - name: root
        flags: [ boot ]
        size: 100%
        mkfs:
          type: ext4
          mount:
            mount_point: /
            fstab:
              options: "defaults"
              fsck-passno: 1
"""
