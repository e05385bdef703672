"""DIB's default block-device configs, as YAML text (DIB-SPEC sections 3.3 and 3.7.6).

``MBR``, ``GPT`` and ``EFI`` are the ``block-device-default.yaml`` of the
``block-device-mbr``/``-gpt``/``-efi`` elements; ``FALLBACK`` is what ``disk-image-create``
uses when neither ``DIB_BLOCK_DEVICE_CONFIG`` nor an element gives a config: one file system
on the whole disk, no partition table.

Normalised (``dibpy.blockdev.config.normalise``) they are the graphs of DIB-SPEC 3.7.6::

    mbr:      image0 -> root (mbr, boot+primary, 100%) -> mkfs_root (FS_TYPE)
              -> mount_mkfs_root (/) -> fstab_mount_mkfs_root (defaults 0 1)
    gpt:      image0 -> BSP (EF02, 8MiB) -> root (8300, 100%) -> mkfs_root (ext4, fixed)
              -> mount_mkfs_root (/) -> fstab_mount_mkfs_root (defaults 0 1)
    efi:      image0 -> ESP (EF00, 550MiB) -> mkfs_ESP (vfat, label MKFS_ESP)
              -> mount_mkfs_ESP (/boot/efi) -> fstab_mount_mkfs_ESP (defaults 0 2);
              BSP (EF02, 8MiB); root (8300, 100%) -> mkfs_root (ext4, fixed) -> / (0 1)
    fallback: image0 -> mkfs_root (FS_TYPE, whole disk) -> mount_mkfs_root (/) -> fstab (0 1)

The mbr and fallback ``mkfs_root`` have no ``type``: it comes from ``FS_TYPE`` (default
ext4). The gpt and efi ones say ``type: ext4``, so there ``FS_TYPE`` is ignored, as in DIB.
"""

from __future__ import annotations

MBR = """\
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

GPT = """\
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

EFI = """\
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

FALLBACK = """\
# disk-image-create's built-in fallback: one file system on the whole disk
- local_loop:
    name: image0
    mkfs:
      name: mkfs_root
      mount:
        mount_point: /
        fstab:
          options: "defaults"
          fsck-passno: 1
"""

# DIB_BLOCK_DEVICE value (what the element exports) -> its default config.
DEFAULT_CONFIGS: dict[str, str] = {"mbr": MBR, "gpt": GPT, "efi": EFI}
