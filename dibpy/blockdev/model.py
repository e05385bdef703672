"""The disk a build makes, fully worked out: what the block-device config parses into
(``dibpy.blockdev.config``/``layout``) and what the disk writer and bootloader consume."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

MiB = 1024 * 1024
SECTOR = 512


@dataclass(frozen=True)
class Filesystem:
    """A file system to make, and where the tree's contents for it come from."""

    fstype: str  # ext4, xfs, vfat, ...
    label: str
    uuid: str  # chosen up front so fstab and the bootloader can name it
    mount_point: str | None  # "/", "/boot/efi", ...; None: not mounted
    mkfs_options: tuple[str, ...] = ()
    fstab_options: str = "defaults"
    dump_freq: int = 0
    fsck_passno: int = 2
    in_fstab: bool = True  # False: no fstab line (no mount, or a mount without an fstab node)
    name: str = ""  # the block-device config's mkfs node name, e.g. "mkfs_root"


@dataclass(frozen=True)
class Partition:
    """One partition, placed: byte offsets are multiples of the alignment."""

    name: str
    number: int  # 1-based, as the partition table numbers it
    start: int  # bytes from the start of the disk
    size: int  # bytes
    type_code: str  # MBR: "0x83"; GPT: "8300", "EF00", "EF02"
    bootable: bool = False
    filesystem: Filesystem | None = None


@dataclass(frozen=True)
class DiskLayout:
    """A whole disk image: its table, its partitions and its total size."""

    name: str  # the local_loop node's name, e.g. "image0"
    size: int  # bytes
    table: Literal["mbr", "gpt"] | None  # None: one file system on the whole disk
    partitions: tuple[Partition, ...] = ()
    whole_disk_filesystem: Filesystem | None = None  # when table is None
    disk_id: str = field(default="")  # MBR disk signature / GPT disk GUID, if fixed
    # MBR with logical partitions: where the extended partition holding them starts (bytes;
    # it runs to the end of the disk); 0: no extended partition.
    extended_start: int = 0

    @property
    def extended_number(self) -> int:
        """The MBR slot of the extended partition: the one after the primary partitions."""
        return 1 + sum(1 for p in self.partitions if p.number <= 4)

    @property
    def filesystems(self) -> tuple[Filesystem, ...]:
        found = [p.filesystem for p in self.partitions if p.filesystem is not None]
        if self.whole_disk_filesystem is not None:
            found.append(self.whole_disk_filesystem)
        return tuple(found)

    @property
    def root(self) -> Filesystem:
        """The file system mounted at ``/``."""
        for fs in self.filesystems:
            if fs.mount_point == "/":
                return fs
        raise ValueError("the layout has no file system mounted at /")

    def partition_of(self, fs: Filesystem) -> Partition | None:
        for partition in self.partitions:
            if partition.filesystem == fs:
                return partition
        return None
