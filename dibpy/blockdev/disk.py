"""Turn a finished root tree into a raw disk image: no loop device, no mount, no root.

``assemble_disk`` does, on a plain file:

1. a sparse file of ``layout.size`` bytes;
2. the partition table, written by ``sfdisk`` on the file (a script on its stdin);
3. each file system made *from its part of the tree*, straight into the image:
   - ext2/3/4: ``mke2fs -t TYPE -d SUBTREE -E offset=BYTES IMAGE SIZEk`` writes at the
     partition's offset and leaves the rest of the file alone (it neither truncates nor
     extends it; ``-E`` is given once, merged with any ``-E`` in the mkfs options, because
     mke2fs keeps only the last ``-E`` and one without ``offset=`` would overwrite the
     partition table); owners, modes, xattrs, device nodes and hard links are kept;
   - vfat: ``mkfs.vfat -C`` into a temporary file, the subtree copied in with ``mcopy``, the
     file copied into the image at the offset, skipping zero blocks (the image stays sparse);
   - swap: ``mkswap`` on a temporary file, copied in the same way;
   - xfs: ``mkfs.xfs -p PROTOFILE`` on a temporary file (``dibpy.blockdev.xfs``: what the
     prototype format cannot hold is refused, naming the path), copied in the same way;
   - btrfs, ...: not supported (a clear error).

Splitting the tree by mount point (``split_tree``): each file system gets the subtree at its
mount point, and the file system above it gets an empty directory there. Nothing is copied:
the mount point's directory is *renamed* into a holding directory beside the tree (in the
tree's parent, so on the same file system: ``rename(2)`` is atomic and instant), an empty
directory with the same owner, mode and times is put in its place, the file systems are
made, and everything is renamed back in a ``finally``. Deeper mount points are moved first,
so ``/boot`` and ``/boot/efi`` each get exactly their own files. A mount point missing from
the tree is created for the duration and removed again. If the build is killed between the
two renames, the holding directory ``.<tree name>.dibpy-split.*`` next to the tree holds the
moved directories, named after their mount points.

On any failure the image is deleted (no partial image is left) and the tree is restored.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import stat
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from dibpy.blockdev.model import SECTOR, DiskLayout, Filesystem, Partition
from dibpy.blockdev.xfs import make_xfs
from dibpy.errors import BuildError, CommandError
from dibpy.host.run import Runner

log = logging.getLogger("dibpy.blockdev.disk")

COPY_BLOCK = 64 * 1024
GPT_RESERVED_SECTORS = 34  # protective MBR + header + 32 sectors of entries (and at the end: 33)

EXT_TYPES = ("ext2", "ext3", "ext4")
VFAT_TYPES = ("vfat", "fat", "fat12", "fat16", "fat32", "msdos")

# GPT type codes as sgdisk spells them (what DIB's YAML uses) -> partition type GUIDs.
GPT_TYPES = {
    "0700": "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7",  # Microsoft basic data
    "8200": "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F",  # Linux swap
    "8300": "0FC63DAF-8483-4772-8E79-3D69D8477DE4",  # Linux file system
    "8302": "933AC7E1-2EB4-4F13-B844-0E14E2AEF915",  # Linux /home
    "8304": "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709",  # Linux x86-64 root
    "8305": "B921B045-1DF0-41C3-AF44-4C6F280D3FAE",  # Linux ARM64 root
    "8e00": "E6D6D379-F507-44C2-A23C-238F2A3DF928",  # Linux LVM
    "fd00": "A19D880F-05FC-4D3B-A006-743F0F84911E",  # Linux RAID
    "ef00": "C12A7328-F81F-11D2-BA4B-00A0C93EC93B",  # EFI system partition
    "ef01": "024DEE41-33E7-11D3-9D69-0008C781F39F",  # MBR partition scheme
    "ef02": "21686148-6449-6E6F-744E-656564454649",  # BIOS boot partition
    "4100": "9E1A2D38-C612-4316-AA26-8B49521E5A8B",  # PowerPC PReP boot
}
BIOS_BOOT_GUID = GPT_TYPES["ef02"]
ESP_GUID = GPT_TYPES["ef00"]

_GUID = re.compile(r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$")


class DiskError(BuildError):
    """The disk image could not be made; the message says which part and why."""


# --------------------------------------------------------------------------- partition table


def gpt_type_guid(type_code: str) -> str:
    """``EF00`` / ``ef02`` / ``8300`` / a GUID -> the GUID sfdisk writes."""
    code = type_code.strip()
    if _GUID.match(code):
        return code.upper()
    code = code.lower().removeprefix("0x")
    if code in GPT_TYPES:
        return GPT_TYPES[code]
    raise DiskError(
        f"Unknown GPT partition type {type_code!r}. Use an sgdisk-style code "
        f"({', '.join(sorted(c.upper() for c in GPT_TYPES))}) or a type GUID."
    )


def mbr_type_hex(type_code: str) -> str:
    """``0x83`` / ``83`` / ``0xEF`` -> ``83`` / ``ef`` (what sfdisk takes for a dos label)."""
    code = type_code.strip().lower().removeprefix("0x")
    try:
        value = int(code, 16)
    except ValueError:
        value = -1
    if not 0 < value <= 0xFF:
        raise DiskError(
            f"Unknown MBR partition type {type_code!r}: expected one byte in hex, like 0x83 "
            "(Linux), 0xef (EFI system) or 0x82 (swap)."
        )
    return f"{value:x}"


def sfdisk_script(layout: DiskLayout, device_name: str = "disk") -> str:
    """The ``sfdisk`` script that writes ``layout``'s partition table (sizes in sectors)."""
    if layout.table not in ("mbr", "gpt"):
        raise DiskError(f"Disk {layout.name}: no partition table to write ({layout.table!r}).")
    lines = [f"label: {'dos' if layout.table == 'mbr' else 'gpt'}"]
    if layout.disk_id:
        lines.append(f"label-id: {_disk_id(layout)}")
    lines += ["unit: sectors", "sector-size: 512"]
    if layout.table == "gpt":
        lines.append(f"first-lba: {GPT_RESERVED_SECTORS}")
    lines.append("")
    entries: list[tuple[int, Partition | None]] = [(p.number, p) for p in layout.partitions]
    if layout.table == "mbr" and layout.extended_start:
        entries.append((layout.extended_number, None))
    for number, part in sorted(entries, key=lambda entry: entry[0]):
        if part is None:
            start = layout.extended_start // SECTOR
            size = layout.size // SECTOR - start
            lines.append(f"{device_name}{number} : start={start}, size={size}, type=f")
            continue
        fields = [f"start={part.start // SECTOR}", f"size={part.size // SECTOR}"]
        if layout.table == "mbr":
            fields.append(f"type={mbr_type_hex(part.type_code)}")
            if part.bootable:
                fields.append("bootable")
        else:
            fields.append(f"type={gpt_type_guid(part.type_code)}")
            if part.name:
                fields.append(f'name="{_gpt_name(part)}"')
            if part.bootable:
                fields.append('attrs="LegacyBIOSBootable"')
        # "<device><n> :" numbers the partition explicitly (gaps are allowed).
        lines.append(f"{device_name}{part.number} : " + ", ".join(fields))
    return "\n".join(lines) + "\n"


def _disk_id(layout: DiskLayout) -> str:
    value = layout.disk_id.strip()
    if layout.table == "gpt":
        if not _GUID.match(value):
            raise DiskError(f"Disk {layout.name}: disk_id {value!r} is not a GUID (GPT disk).")
        return value.upper()
    digits = value.lower().removeprefix("0x")
    if not re.fullmatch(r"[0-9a-f]{1,8}", digits):
        raise DiskError(
            f"Disk {layout.name}: disk_id {value!r} is not an MBR disk signature "
            "(up to 8 hex digits, like 0x1a2b3c4d)."
        )
    return f"0x{int(digits, 16):08x}"


def _gpt_name(part: Partition) -> str:
    if '"' in part.name or len(part.name) > 36:
        raise DiskError(
            f"GPT partition name {part.name!r} cannot be written: at most 36 characters, "
            "no double quotes."
        )
    return part.name


def check_layout(layout: DiskLayout) -> None:
    """Refuse a layout whose partitions do not fit the disk, overlap or are misaligned."""
    if layout.size <= 0 or layout.size % SECTOR:
        raise DiskError(
            f"Disk {layout.name}: size {layout.size} is not a positive multiple of 512 bytes."
        )
    if layout.table is None:
        if layout.whole_disk_filesystem is None:
            raise DiskError(f"Disk {layout.name} has no partition table and no file system.")
        return
    first = GPT_RESERVED_SECTORS * SECTOR if layout.table == "gpt" else SECTOR
    last = layout.size - (33 * SECTOR if layout.table == "gpt" else 0)
    numbers: set[int] = set()
    placed: list[Partition] = []
    for part in sorted(layout.partitions, key=lambda p: p.start):
        where = f"Disk {layout.name}, partition {part.number} ({part.name or 'unnamed'})"
        if part.start % SECTOR or part.size % SECTOR or part.size <= 0:
            raise DiskError(f"{where}: start and size must be positive multiples of 512 bytes.")
        if part.start < first or part.start + part.size > last:
            raise DiskError(
                f"{where}: bytes {part.start}-{part.start + part.size} lie outside the usable "
                f"area of the {layout.table} disk (bytes {first}-{last})."
            )
        if placed and placed[-1].start + placed[-1].size > part.start:
            raise DiskError(f"{where} overlaps partition {placed[-1].number}.")
        if part.number in numbers or part.number < 1:
            raise DiskError(f"{where}: partition number is invalid or used twice.")
        if layout.table == "mbr" and part.number > 4:
            _check_logical(layout, part, where)
        numbers.add(part.number)
        placed.append(part)
    if layout.table == "mbr" and layout.size > 0xFFFFFFFF * SECTOR:
        raise DiskError(f"Disk {layout.name}: an MBR disk cannot be larger than 2 TiB.")


def _check_logical(layout: DiskLayout, part: Partition, where: str) -> None:
    """A logical MBR partition lies inside the extended partition, after room for its EBR."""
    if not layout.extended_start or part.start <= layout.extended_start:
        raise DiskError(
            f"{where}: a logical MBR partition (number above 4) must lie inside the extended "
            f"partition, after a sector for its EBR (extended partition at byte "
            f"{layout.extended_start or 'none'})."
        )
    if layout.extended_number > 4:
        raise DiskError(
            f"Disk {layout.name}: four primary partitions leave no slot for the extended "
            "partition that logical partitions need."
        )


def write_partition_table(layout: DiskLayout, image: Path, runner: Runner) -> None:
    runner.run(
        ["sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", image],
        input=sfdisk_script(layout, device_name=str(image)),
    )


# ----------------------------------------------------------------------------- tree splitting


def _mount_key(mount_point: str) -> str:
    path = PurePosixPath("/", mount_point)
    if ".." in path.parts:
        raise DiskError(f"Mount point {mount_point!r} must not contain '..'.")
    return str(path)


@dataclass
class _Moved:
    mount_point: str
    original: Path  # the mount point's place in the tree
    aside: Path  # where its directory waits meanwhile
    created: list[Path]  # directories that did not exist and were made for the split
    parent_times: tuple[int, int]
    anchor: Path  # the deepest directory that existed before (its times are restored)
    anchor_times: tuple[int, int]


@contextlib.contextmanager
def split_tree(tree: Path, mount_points: Sequence[str]) -> Iterator[dict[str, Path]]:
    """Yield ``{mount point: directory holding exactly that file system's files}``.

    See the module doc. ``/`` maps to ``tree``; the tree is whole again on exit.
    """
    keys = sorted({_mount_key(m) for m in mount_points}, key=lambda m: (-m.count("/"), m))
    sources: dict[str, Path] = {"/": tree}
    others = [m for m in keys if m != "/"]
    if not others:
        yield sources
        return
    if os.stat(tree).st_dev != os.stat(tree.parent).st_dev:
        raise DiskError(
            f"The tree {tree} is a mount point of its own, so its sub-mounts "
            f"({', '.join(others)}) cannot be moved aside within one file system. Put the tree "
            "in a directory of the file system that holds its parent."
        )
    holding = Path(tempfile.mkdtemp(prefix=f".{tree.name}.dibpy-split.", dir=tree.parent))
    moved: list[_Moved] = []
    try:
        for index, mount_point in enumerate(others):
            moved.append(_move_aside(tree, mount_point, holding / f"{index}{_flat(mount_point)}"))
            sources[mount_point] = moved[-1].aside
        yield sources
    finally:
        errors = []
        for item in reversed(moved):
            try:
                _put_back(item)
            except OSError as exc:
                errors.append(f"{item.mount_point}: {exc}")
        if errors:
            raise DiskError(
                f"Could not restore the tree {tree} after splitting it by mount point "
                f"({'; '.join(errors)}). The moved directories are in {holding}."
            )
        holding.rmdir()


def _flat(mount_point: str) -> str:
    return mount_point.replace("/", "_")


def _check_no_symlink(tree: Path, mount_point: str) -> None:
    current = tree
    for part in PurePosixPath(mount_point).parts[1:]:
        current = current / part
        if current.is_symlink():
            raise DiskError(
                f"Mount point {mount_point} passes through the symlink "
                f"{current.relative_to(tree)} -> {os.readlink(current)} in the tree; a "
                "file system can only be mounted on a real directory."
            )
        if current.exists() and not current.is_dir():
            raise DiskError(f"Mount point {mount_point} is not a directory in the tree.")


def _move_aside(tree: Path, mount_point: str, aside: Path) -> _Moved:
    _check_no_symlink(tree, mount_point)
    original = tree / mount_point.lstrip("/")
    anchor = original.parent
    while not anchor.exists():
        anchor = anchor.parent
    anchor_info = os.stat(anchor)
    anchor_times = (anchor_info.st_atime_ns, anchor_info.st_mtime_ns)
    created: list[Path] = []
    for parent in reversed([original, *original.parents]):
        if parent == tree or tree not in parent.parents:
            continue
        if not parent.exists():
            parent.mkdir(mode=0o755)
            created.append(parent)
    before = os.stat(original.parent)
    parent_times = (before.st_atime_ns, before.st_mtime_ns)
    info = os.lstat(original)
    os.rename(original, aside)
    try:
        original.mkdir(mode=0o700)
        _copy_metadata(info, original)
        os.utime(original.parent, ns=parent_times)
    except OSError:
        with contextlib.suppress(OSError):
            original.rmdir()
        os.rename(aside, original)
        raise
    return _Moved(mount_point, original, aside, created, parent_times, anchor, anchor_times)


def _copy_metadata(info: os.stat_result, path: Path) -> None:
    if os.geteuid() == 0 or (info.st_uid, info.st_gid) != (os.getuid(), os.getgid()):
        with contextlib.suppress(PermissionError):
            os.chown(path, info.st_uid, info.st_gid)
    os.chmod(path, stat.S_IMODE(info.st_mode))
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))


def _put_back(item: _Moved) -> None:
    item.original.rmdir()  # the empty stand-in (it is empty: mkfs only read it)
    os.rename(item.aside, item.original)
    for directory in reversed(item.created):
        directory.rmdir()
    if item.original.parent.exists():
        os.utime(item.original.parent, ns=item.parent_times)
    os.utime(item.anchor, ns=item.anchor_times)


# ------------------------------------------------------------------------------- file systems


def _ext_command(
    fs: Filesystem, source: Path | None, target: Path, offset: int, size: int
) -> list[str]:
    options = list(fs.mkfs_options)
    extended: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(options):  # mke2fs keeps only the last -E: gather them all into one
        opt = options[i]
        if opt == "-E" and i + 1 < len(options):
            extended.append(options[i + 1])
            i += 2
            continue
        if opt.startswith("-E") and len(opt) > 2:
            extended.append(opt[2:])
        else:
            rest.append(opt)
        i += 1
    if any(e.split("=")[0] == "offset" for x in extended for e in x.split(",")):
        raise DiskError(f"mkfs options of {fs.label or fs.mount_point}: do not set -E offset.")
    if offset:
        extended.append(f"offset={offset}")
    if source is not None:
        info = os.stat(source)
        extended.append(f"root_owner={info.st_uid}:{info.st_gid}")
    argv = ["mke2fs", "-t", fs.fstype, "-F", "-q", *rest]
    if fs.label:
        argv += ["-L", fs.label]
    if fs.uuid:
        argv += ["-U", fs.uuid]
    if extended:
        argv += ["-E", ",".join(extended)]
    if source is not None:
        argv += ["-d", str(source)]
    return [*argv, str(target), f"{size // 1024}k"]


def _set_root_mode(image: Path, offset: int, source: Path, runner: Runner) -> None:
    """mke2fs -d gives the root directory mode 0755 whatever the source's mode is (it does
    take the owner, through root_owner): set it with debugfs when it differs (a /tmp file
    system needs 1777)."""
    mode = stat.S_IMODE(os.stat(source).st_mode)
    if mode != 0o755:
        runner.run(
            [
                "debugfs",
                "-w",
                "-R",
                f"set_inode_field / mode 04{mode:04o}",
                f"{image}?offset={offset}",
            ]
        )


def _vfat_volume_id(fs: Filesystem) -> str | None:
    if not fs.uuid:
        return None
    # Exactly the form blkid reports (and /dev/disk/by-uuid names), because fstab names the
    # file system by this string: "1A2B3C4D" would make a disk whose /boot/efi never mounts.
    if not re.fullmatch(r"[0-9A-F]{4}-[0-9A-F]{4}", fs.uuid):
        raise DiskError(
            f"The vfat file system {fs.label or fs.mount_point} has uuid {fs.uuid!r}; a FAT "
            "volume id is written as blkid shows it, 4+4 upper-case hex digits like 1A2B-3C4D "
            "(fstab and the bootloader use this string as it is)."
        )
    return fs.uuid.replace("-", "")


def _make_vfat(
    fs: Filesystem, source: Path | None, scratch: Path, size: int, runner: Runner
) -> None:
    if size % 1024:
        raise DiskError(f"vfat file system {fs.label}: size {size} is not whole KiB.")
    argv = ["mkfs.vfat", "-C", *fs.mkfs_options]
    if fs.fstype == "fat32" and "-F" not in fs.mkfs_options:
        argv += ["-F", "32"]
    if fs.label:
        argv += ["-n", fs.label]
    volume_id = _vfat_volume_id(fs)
    if volume_id:
        argv += ["-i", volume_id]
    runner.run([*argv, str(scratch), str(size // 1024)])
    if source is None:
        return
    entries = sorted(os.listdir(source))
    if entries:
        env = {**runner.env, "MTOOLS_SKIP_CHECK": "1"}
        runner.run(
            [
                "mcopy",
                "-s",
                "-p",
                "-m",
                "-Q",
                "-i",
                str(scratch),
                *[str(source / e) for e in entries],
                "::/",
            ],
            env=env,
        )


def copy_into(source: Path, image_fd: int, offset: int, limit: int) -> None:
    """Copy ``source`` into the image at ``offset``, skipping zero blocks (keeps it sparse).

    The image's range is known to be zeros already (a fresh sparse file), so skipping is
    exact. ``limit``: the partition size; a bigger source is an error.
    """
    length = os.stat(source).st_size
    if length > limit:
        raise DiskError(f"{source} ({length} bytes) is larger than its partition ({limit}).")
    zero = bytes(COPY_BLOCK)
    with open(source, "rb") as src:
        position = 0
        while position < length:
            block = src.read(COPY_BLOCK)
            if not block:
                break
            if block != zero[: len(block)]:
                os.pwrite(image_fd, block, offset + position)
            position += len(block)


def make_filesystem(
    fs: Filesystem,
    source: Path | None,
    image: Path,
    offset: int,
    size: int,
    runner: Runner,
    scratch_dir: Path,
) -> None:
    """Make ``fs`` holding the files of ``source`` at ``offset`` (bytes) in ``image``."""
    what = f"the {fs.fstype} file system {fs.label or ''} for {fs.mount_point or '(unmounted)'}"
    if fs.fstype in EXT_TYPES:
        try:
            runner.run(_ext_command(fs, source, image, offset, size))
            if source is not None:
                _set_root_mode(image, offset, source, runner)
        except CommandError as exc:
            raise DiskError(
                f"Could not make {what} ({size // 1024 // 1024} MiB at byte {offset} of "
                f"{image}); if it says it could not allocate a block or inode, the tree is too "
                f"big for the partition. mke2fs said: {exc.output_tail or exc}"
            ) from exc
        return
    if fs.fstype in VFAT_TYPES or fs.fstype in ("swap", "xfs"):
        scratch = scratch_dir / f"fs-{offset}.img"
        try:
            if fs.fstype == "xfs":
                scratch.touch()
                os.truncate(scratch, size)
                make_xfs(
                    scratch,
                    source,
                    label=fs.label,
                    uuid=fs.uuid,
                    options=fs.mkfs_options,
                    scratch=scratch_dir,
                    runner=runner,
                )
            elif fs.fstype == "swap":
                argv = ["mkswap", *fs.mkfs_options]
                if fs.label:
                    argv += ["-L", fs.label]
                if fs.uuid:
                    argv += ["-U", fs.uuid]
                scratch.touch()
                os.truncate(scratch, size)
                runner.run([*argv, str(scratch)])
            else:
                _make_vfat(fs, source, scratch, size, runner)
            fd = os.open(image, os.O_WRONLY)
            try:
                copy_into(scratch, fd, offset, size)
            finally:
                os.close(fd)
        except CommandError as exc:
            raise DiskError(
                f"Could not make {what} ({size // 1024 // 1024} MiB); if it ran out of space, "
                f"the files for {fs.mount_point} do not fit in the partition. "
                f"The tool said: {exc.output_tail or exc}"
            ) from exc
        finally:
            scratch.unlink(missing_ok=True)
        return
    raise DiskError(
        f"Cannot make {what}: the {fs.fstype} file system type is not supported by "
        f"dibpy's disk writer (supported: {', '.join(EXT_TYPES + VFAT_TYPES)}, xfs, swap)."
    )


# ------------------------------------------------------------------------------------ the disk


def placements(layout: DiskLayout) -> list[tuple[Filesystem, int, int]]:
    """(file system, byte offset, byte size) for every file system on the disk."""
    found: list[tuple[Filesystem, int, int]] = []
    if layout.table is None:
        if layout.whole_disk_filesystem is not None:
            found.append((layout.whole_disk_filesystem, 0, layout.size))
        return found
    for part in layout.partitions:
        if part.filesystem is not None:
            found.append((part.filesystem, part.start, part.size))
    return found


def assemble_disk(layout: DiskLayout, tree: Path, image: Path, runner: Runner) -> None:
    """Write the raw disk image ``image`` for ``layout`` from the finished ``tree``.

    Needs no root, no loop device and no mount. On failure ``image`` does not exist and the
    tree is as it was.
    """
    check_layout(layout)
    placed = placements(layout)
    mounted = [fs.mount_point for fs, _, _ in placed if fs.mount_point is not None]
    duplicates = {m for m in mounted if mounted.count(m) > 1}
    if duplicates:
        raise DiskError(f"Disk {layout.name}: more than one file system mounted at {duplicates}.")
    if not tree.is_dir():
        raise DiskError(f"The tree {tree} to make disk {layout.name} from is not a directory.")
    image.parent.mkdir(parents=True, exist_ok=True)
    image.unlink(missing_ok=True)
    scratch_dir = Path(tempfile.mkdtemp(prefix=f".{image.name}.", dir=image.parent))
    done = False
    try:
        with open(image, "xb") as handle:
            handle.truncate(layout.size)
        if layout.table is not None:
            write_partition_table(layout, image, runner)
        with split_tree(tree, mounted) as sources:
            for fs, offset, size in placed:
                source = sources[_mount_key(fs.mount_point)] if fs.mount_point else None
                make_filesystem(fs, source, image, offset, size, runner, scratch_dir)
        done = True
    finally:
        shutil.rmtree(scratch_dir, ignore_errors=True)
        if not done:
            image.unlink(missing_ok=True)
    log.info("Disk %s written: %s (%d MiB)", layout.name, image, layout.size // (1024 * 1024))


# ------------------------------------------------------------------------ reading a disk back


def _disk_head(image: Path, length: int, runner: Runner) -> bytes:
    """The first ``length`` bytes of the disk in ``image`` (raw, or qcow2 through qemu-img)."""
    with open(image, "rb") as handle:
        head = handle.read(length)
    if head[:4] != b"QFI\xfb":
        return head
    with tempfile.TemporaryDirectory(prefix="dibpy-head.") as scratch:
        out = Path(scratch) / "head.raw"
        runner.run(
            [
                "qemu-img",
                "dd",
                "-f",
                "qcow2",
                "-O",
                "raw",
                f"bs={SECTOR}",
                f"count={length // SECTOR}",
                f"if={image}",
                f"of={out}",
            ]
        )
        return out.read_bytes()


def partition_types(image: Path, runner: Runner | None = None) -> list[str]:
    """The partition types on a disk image: GPT type GUIDs, or MBR types as ``0x83``.

    Reads the table itself (raw or qcow2 images), so no loop device or sfdisk is needed.
    An image without a partition table gives ``[]``.
    """
    head = _disk_head(image, 34 * SECTOR, runner or Runner())
    if len(head) < SECTOR or head[510:512] != b"\x55\xaa":
        return []
    mbr_types = [head[0x1BE + 16 * i + 4] for i in range(4)]
    if 0xEE not in mbr_types:
        return [f"0x{t:02x}" for t in mbr_types if t]
    header = head[SECTOR : 2 * SECTOR]
    if header[:8] != b"EFI PART":
        return []
    entries_lba = int.from_bytes(header[72:80], "little")
    count = int.from_bytes(header[80:84], "little")
    size = int.from_bytes(header[84:88], "little")
    if entries_lba * SECTOR + count * size > len(head):
        head = _disk_head(image, entries_lba * SECTOR + count * size, runner or Runner())
    found = []
    for index in range(count):
        raw = head[entries_lba * SECTOR + index * size :][:16]
        if len(raw) < 16 or raw == bytes(16):
            continue
        found.append(str(uuid.UUID(bytes_le=raw)).upper())
    return found


def has_esp(image: Path, runner: Runner | None = None) -> bool:
    """Whether the disk image has an EFI system partition (so it boots with UEFI)."""
    return any(t in (ESP_GUID, "0xef") for t in partition_types(image, runner))
