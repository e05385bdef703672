"""Block device layout: GPT with an EFI system partition (EF00, vfat), a BIOS boot partition and
an ext4 root, for UEFI (and hybrid BIOS) boot."""

PROVIDES = ["block-device"]
ENVIRONMENT = {"DIB_BLOCK_DEVICE": "efi"}
UNSUPPORTED_ARCHES = ("ppc64el",)

# DIB's block-device-default.yaml of this element (DIB-SPEC 3.3 and 3.7.6).
BLOCK_DEVICE_CONFIG = """\
# GPT with an EFI system partition, a BIOS boot partition and the root
- local_loop:
    name: image0

- partitioning:
    base: image0
    label: gpt
    partitions:
      - name: ESP
        type: 'EF00'
        size: 550MiB
        mkfs:
          type: vfat
          mount:
            mount_point: /boot/efi
            fstab:
              options: "defaults"
              fsck-passno: 2
      - name: BSP
        type: 'EF02'
        size: 8MiB
      - name: root
        type: '8300'
        size: 100%
        mkfs:
          type: ext4
          mount:
            mount_point: /
            fstab:
              options: "defaults"
              fsck-passno: 1
"""
