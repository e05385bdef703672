"""Place a parsed block-device config on a disk of a given size: a ``DiskLayout``.

Placement follows DIB (``level1/partitioning.py``, ``mbr.py``), in the listed order, each
partition right after the one before:

- **MBR** (DIB's own MBR writer): partitions aligned to ``align`` (default 1 MiB), the
  first at ``align``; ``N%`` is N percent of the space still free, which, as in DIB, is the
  space up to the end of the disk **less one alignment unit** (``MBR.free()``), so a
  ``100%`` last partition ends 1 MiB before the end of the disk. Sizes are floored to the
  alignment, so every partition also ends aligned (DIB keeps a sector-exact length and
  aligns only the next start: an unaligned size such as ``100MB`` gives a partition up to
  one alignment unit shorter here). Partitions with the ``primary`` flag are primary,
  numbered from 1; the others are logical, numbered from 5, inside an extended partition
  (type 0x0f) that starts where the first logical one would and runs to the end of the disk;
  each logical partition starts one alignment unit after the end of the one before, the
  room for its EBR (DIB's ``mbr.py``: a 10 MiB logical partition on a 1 MiB grid is at
  sectors 4096-24575 inside an extended partition from 2048).
- **GPT** (DIB calls ``sgdisk -n i:0:+<MiB>M``): the first partition at 1 MiB, sizes
  floored to MiB; 2 MiB of the disk are kept back (the first MiB and the last, where the
  backup table goes: 33 sectors needed), and ``N%`` is N percent of what is still free of
  the rest, so ``100%`` is what is left and the last partition ends at least 1 MiB before
  the end of the disk. The ``boot`` flag is ignored on GPT, as DIB ignores it
  (``Partition.bootable`` is False); ``align`` is ignored on GPT, as in DIB.
- no ``partitioning``: the ``mkfs`` on the disk fills the whole disk (DIB's fallback).

A size that does not fit is a ``BlockDeviceConfigError`` naming the partition, the size
asked and the space left.

``fstab_text`` writes ``UUID=`` lines where DIB's ``writefstab`` writes ``LABEL=``: labels
are not unique across disks (attach a second disk built from the same config, or the build
host's own ``cloudimg-rootfs``, and ``LABEL=`` may mount the wrong one), while the UUIDs are
chosen up front by the config parser, so they are known before any file system exists.
"""

from __future__ import annotations

from dibpy.blockdev.config import (
    BlockDeviceConfig,
    BlockDeviceConfigError,
    MkfsNode,
    PartitioningNode,
    PartitionSpec,
    fstab_entry,
)
from dibpy.blockdev.model import SECTOR, DiskLayout, Filesystem, MiB, Partition
from dibpy.blockdev.sizes import format_size, parse_partition_size, parse_size, round_down

DISK_NAME = "image0"  # the disk DIB's driver reads back (getval image-path)
GPT_RESERVED = 2 * MiB  # DIB: disk_free = disk_size - 2 MiB
GPT_FIRST = MiB  # sgdisk's first aligned sector, 2048


def plan_disk(config: BlockDeviceConfig, image_size: int) -> DiskLayout:
    """Place ``config`` on disk ``image0`` of ``image_size`` bytes (or its ``size`` key)."""
    disks = config.local_loops
    if not any(disk.name == DISK_NAME for disk in disks):
        names = ", ".join(repr(disk.name) for disk in disks) or "none"
        raise BlockDeviceConfigError(
            f"Block-device config: there is no local_loop named {DISK_NAME!r} (disks: "
            f"{names}). The image is the disk {DISK_NAME}: name it so "
            "('- local_loop: {name: image0}')."
        )
    if len(disks) > 1:
        others = ", ".join(repr(disk.name) for disk in disks if disk.name != DISK_NAME)
        raise BlockDeviceConfigError(
            f"Block-device config: dibpy makes one disk image ({DISK_NAME}), but the config "
            f"also has the local_loop {others}. Remove the other disks."
        )
    disk = disks[0]
    if disk.size is not None:
        size = parse_size(disk.size)
    else:
        size = image_size
        if size <= 0 or size % SECTOR:
            raise BlockDeviceConfigError(
                f"The image size {size} bytes is not a positive multiple of 512 bytes; give "
                "--image-size in GB (or a local_loop size such as 2GiB)."
            )

    table = next((t for t in config.partitionings if t.base == disk.name), None)
    if table is None:
        mkfs = config.mkfs_on(disk.name)
        if mkfs is None:
            raise BlockDeviceConfigError(
                f"Block-device config: disk {disk.name!r} has neither a partitioning nor a "
                "mkfs. Nest a partitioning (or, for a bare file system, a mkfs) under it."
            )
        return DiskLayout(
            name=disk.name,
            size=size,
            table=None,
            whole_disk_filesystem=_filesystem(config, mkfs),
        )

    placed = _place_mbr(table, size) if table.label == "mbr" else _place_gpt(table, size)
    extended_start = next(
        (start - table.alignment for _, number, start, _ in placed if number > 4), 0
    )
    partitions: list[Partition] = []
    for spec, number, start, length in placed:
        mkfs = config.mkfs_on(spec.name)
        partitions.append(
            Partition(
                name=spec.name,
                number=number,
                start=start,
                size=length,
                type_code=table.type_code(spec),
                bootable=table.label == "mbr" and spec.boot,
                filesystem=_filesystem(config, mkfs) if mkfs is not None else None,
            )
        )
    return DiskLayout(
        name=disk.name,
        size=size,
        table=table.label,
        partitions=tuple(partitions),
        extended_start=extended_start,
    )


Placed = list[tuple[PartitionSpec, int, int, int]]  # (partition, number, start, size in bytes)


def _place_mbr(table: PartitioningNode, disk_size: int) -> Placed:
    align = table.alignment
    cursor = align  # DIB: the first partition starts at the first aligned block after the MBR
    placed: Placed = []
    primaries = logicals = 0
    for spec in table.partitions:
        if spec.primary:
            primaries += 1
            number = primaries
        else:
            logicals += 1
            number = 4 + logicals
            cursor += align  # the EBR in front of every logical partition
        free = max(disk_size - cursor - align, 0)  # DIB's MBR.free()
        room = max(round_down(disk_size, align) - cursor, 0)  # what really fits
        asked = parse_partition_size(spec.size, free)
        if asked > room:
            raise _does_not_fit(table, spec, asked, room, disk_size)
        size = round_down(asked, align)
        if size <= 0:
            raise _too_small(table, spec, asked, align)
        placed.append((spec, number, cursor, size))
        cursor += size
    return placed


def _place_gpt(table: PartitioningNode, disk_size: int) -> Placed:
    cursor = GPT_FIRST
    free = max(disk_size - GPT_RESERVED, 0)  # DIB's disk_free, less each size asked
    placed: Placed = []
    for number, spec in enumerate(table.partitions, start=1):
        asked = parse_partition_size(spec.size, free)
        if asked > free:
            raise _does_not_fit(table, spec, asked, free, disk_size)
        size = round_down(asked, MiB)  # DIB hands sgdisk whole MiB
        if size <= 0:
            raise _too_small(table, spec, asked, MiB)
        placed.append((spec, number, cursor, size))
        cursor += size
        free -= asked
    return placed


def _does_not_fit(
    table: PartitioningNode, spec: PartitionSpec, asked: int, left: int, disk_size: int
) -> BlockDeviceConfigError:
    return BlockDeviceConfigError(
        f"Block-device config: partition {spec.name!r} ({table.label} on {table.base}) asks "
        f"for {spec.size} = {format_size(asked)}, but only {format_size(left)} is left on "
        f"the {format_size(disk_size)} disk after the partitions before it. Make the image "
        "bigger (--image-size, or the local_loop size) or the partition smaller (a "
        "percentage such as 100% takes what is left)."
    )


def _too_small(
    table: PartitioningNode, spec: PartitionSpec, asked: int, unit: int
) -> BlockDeviceConfigError:
    return BlockDeviceConfigError(
        f"Block-device config: partition {spec.name!r} ({table.label} on {table.base}) gets "
        f"{spec.size} = {format_size(asked)}, which is less than one {format_size(unit)} "
        "alignment unit, so nothing is left of it. Give it a bigger size, or make the image "
        "bigger if it is a percentage."
    )


def _filesystem(config: BlockDeviceConfig, mkfs: MkfsNode) -> Filesystem:
    mount = config.mount_of(mkfs)
    entry = fstab_entry(config, mkfs)
    mount_point = mount.mount_point if mount is not None else None
    if mount_point == "none":  # swap
        mount_point = None
    options, dump_freq, fsck_passno = entry if entry is not None else ("defaults", 0, 2)
    return Filesystem(
        fstype=mkfs.fstype,
        label=mkfs.label or "",
        uuid=mkfs.uuid or "",
        mount_point=mount_point,
        mkfs_options=mkfs.mkfs_options,
        fstab_options=options,
        dump_freq=dump_freq,
        fsck_passno=fsck_passno,
        in_fstab=entry is not None,
        name=mkfs.name,
    )


def fstab_text(layout: DiskLayout) -> str:
    """``/etc/fstab`` for the layout: ``UUID=<uuid> <mp> <type> <options> <dump> <pass>``.

    One line per file system that has an fstab entry, sorted by mount point as plain
    strings (DIB's order: ``/`` first, then ``/boot``, ``/boot/efi``, ``/var``, ...; swap's
    ``none`` last). A vfat file system's UUID is its volume id (``1A2B-3C4D``). A file
    system without a UUID (only possible in a hand-made layout) gets ``LABEL=``.
    """
    entries: list[tuple[str, str]] = []
    for fs in layout.filesystems:
        if not fs.in_fstab:
            continue
        if fs.mount_point is None and fs.fstype != "swap":
            continue
        mount_point = fs.mount_point or "none"
        source = f"UUID={fs.uuid}" if fs.uuid else f"LABEL={fs.label}"
        entries.append(
            (
                mount_point,
                f"{source} {mount_point} {fs.fstype} {fs.fstab_options} "
                f"{fs.dump_freq} {fs.fsck_passno}",
            )
        )
    entries.sort(key=lambda entry: entry[0])
    return "".join(f"{line}\n" for _, line in entries)
