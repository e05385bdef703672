"""Block device layout: an MBR partition table with one bootable ext4 root partition."""

PROVIDES = ["block-device"]
ENVIRONMENT = {"DIB_BLOCK_DEVICE": "mbr"}
UNSUPPORTED_ARCHES = ("arm64",)

# DIB's block-device-default.yaml of this element (DIB-SPEC 3.3 and 3.7.6).
BLOCK_DEVICE_CONFIG = """\
# Default single partition loopback using an MBR partition table
- local_loop:
    name: image0

- partitioning:
    base: image0
    label: mbr
    partitions:
      - name: root
        flags: [ boot, primary ]
        size: 100%
        mkfs:
          mount:
            mount_point: /
            fstab:
              options: "defaults"
              fsck-passno: 1
"""
