"""Sizes: DIB's size strings, the image-size arithmetic and measuring a tree like ``du``.

Size strings are exactly DIB's (``diskimage_builder/block_device/utils.py``): a float and a
unit, ``B``, ``KiB``/``MiB``/``GiB``/``TiB`` (powers of 1024), ``KB``/``MB``/``GB``/``TB``
and the bare ``K``/``M``/``G``/``T`` (powers of **1000**), no unit meaning bytes and no
number meaning 1; partition sizes may also be ``N%`` of the space still free.

The image size follows ``disk-image-create`` (DIB-SPEC section 1.3 step 16), which works in
KiB: an explicit ``--image-size`` in GB (times 1024³) wins; otherwise the tree's ``du`` size
divided by 0.6, or plus ``--image-extra-size`` MB, plus the ext4 journal (but never less than
an ext4 file system can hold that journal in: see ``_journal_floor_kib``); then plus 525 MiB
for ``block-device-efi``; then rounded up to 64 KiB.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from dibpy.errors import BuildError, InputError, SettingsError

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
JOURNAL_FLOOR_SLACK_KIB = 4 * 1024  # group descriptors, superblock copies, reserved blocks

# DIB's table, longest unit first so that "MiB" is not read as "M".
SIZE_UNITS: dict[str, int] = {
    "TiB": 1024**4,
    "GiB": 1024**3,
    "MiB": 1024**2,
    "KiB": 1024,
    "TB": 1000**4,
    "GB": 1000**3,
    "MB": 1000**2,
    "KB": 1000,
    "T": 1000**4,
    "G": 1000**3,
    "M": 1000**2,
    "K": 1000,
    "B": 1,
    "": 1,
}

# DIB's pattern: digits and dots, an optional single space, then a unit word.
_SIZE_RE = re.compile(r"^([\d.]*) ?([a-zA-Z0-9_]*)$")

EFI_EXTRA_KIB = 525 * 1024  # what disk-image-create adds when block-device-efi is used
ROUND_KIB = 64  # the image size is rounded up to a multiple of 64 KiB (a qemu-img bug)
AUTO_SCALE = 0.6  # automatic size = du / 0.6


class SizeError(InputError):
    """A size string that is not one of DIB's size forms."""


def parse_size(spec: str | int | float) -> int:
    """An absolute DIB size string -> bytes (``"1GiB"`` -> 1073741824, ``"1G"`` -> 10**9).

    Like DIB, the result is ``int(unit * float(number))``, so ``"1.5MiB"`` is 1572864.
    """
    text = str(spec).strip()
    if text.endswith("%"):
        raise SizeError(
            f"Size {text!r} is a percentage, which only a partition's size may be. Give an "
            "absolute size such as 512MiB or 2GiB."
        )
    match = _SIZE_RE.match(text)
    if match is None:
        raise SizeError(_bad_size(text))
    number, unit = match.group(1), match.group(2)
    if unit not in SIZE_UNITS:
        raise SizeError(_bad_size(text, f"unknown unit {unit!r}"))
    try:
        count = float(number) if number else 1.0
    except ValueError:
        raise SizeError(_bad_size(text, f"{number!r} is not a number")) from None
    return int(SIZE_UNITS[unit] * count)


def parse_partition_size(spec: str | int | float, free: int) -> int:
    """A partition size -> bytes; ``N%`` is N percent of ``free`` (the space still free)."""
    text = str(spec).strip()
    if text.endswith("%"):
        return int(free * parse_percent(text) / 100.0)
    return parse_size(text)


def parse_percent(text: str) -> float:
    """``"50%"`` -> 50.0; anything outside (0, 100] is an error."""
    try:
        percent = float(text.strip()[:-1])
    except ValueError:
        raise SizeError(_bad_size(text, "the part before % is not a number")) from None
    if not 0 < percent <= 100:
        raise SizeError(f"Size {text!r}: a percentage must be more than 0% and at most 100%.")
    return percent


def check_size_spec(spec: str | int | float, *, percent_ok: bool) -> str:
    """Validate a size string without resolving percentages; returns it as text."""
    text = str(spec).strip()
    if percent_ok and text.endswith("%"):
        parse_percent(text)
    else:
        parse_size(text)
    return text


def _bad_size(text: str, why: str = "") -> str:
    reason = f" ({why})" if why else ""
    return (
        f"Size {text!r} is not a size{reason}. Write a number and a unit, such as 512MiB, "
        "1.5GiB or 100MB: KiB/MiB/GiB/TiB are powers of 1024, KB/MB/GB/TB and K/M/G/T powers "
        "of 1000, B or no unit means bytes (partitions may also use a percentage, like 50%)."
    )


def format_size(value: int) -> str:
    """Bytes for people: ``2147483648`` -> ``"2 GiB (2147483648 bytes)"``.

    The largest unit that divides the value exactly, else the largest that fits, to two
    decimals (``"95.37 MiB (100000000 bytes)"``).
    """
    units = (("TiB", 1024**4), ("GiB", GiB), ("MiB", MiB), ("KiB", KiB))
    for unit, factor in units:
        if value >= factor and value % factor == 0:
            return f"{value // factor} {unit} ({value} bytes)"
    for unit, factor in units:
        if value >= factor:
            return f"{value / factor:.2f} {unit} ({value} bytes)"
    return f"{value} bytes"


# --------------------------------------------------------------------------- image size


def image_size(
    tree_bytes: int,
    *,
    image_size_gb: float | None,
    extra_size_mb: int | None,
    efi: bool,
    journal_mb: int = 64,
) -> int:
    """The disk image size in bytes, as ``disk-image-create`` works it out.

    - ``image_size_gb`` (``--image-size``/``DIB_IMAGE_SIZE``): GiB really (x 1024^3), may be
      fractional; it wins, and then no journal is added.
    - otherwise the tree's size (``tree_size``, rounded up to KiB like ``du``) divided by
      0.6, or, when ``extra_size_mb`` (``DIB_IMAGE_EXTRA_SIZE``, MiB really) is given, plus
      that; then plus ``journal_mb`` (the ext4 journal, ``DIB_JOURNAL_SIZE``; pass 0 when the
      root file system is not ext4: DIB adds it only for ext4).
    - plus 525 MiB when ``efi`` (``block-device-efi`` is among the elements), in both cases.
    - rounded up to a multiple of 64 KiB.
    """
    if tree_bytes < 0:
        raise ValueError(f"tree_bytes must not be negative, got {tree_bytes}")
    if journal_mb < 0:
        raise SettingsError(f"The ext4 journal size must not be negative (got {journal_mb} MB).")
    if image_size_gb is not None:
        if not image_size_gb > 0:
            raise SettingsError(
                f"--image-size / DIB_IMAGE_SIZE must be a positive number of GB, "
                f"got {image_size_gb!r}."
            )
        kib = int(image_size_gb * 1024 * 1024)  # awk printf("%d") truncates
    else:
        du_kib = -(-tree_bytes // KiB)
        if extra_size_mb is not None:
            if extra_size_mb < 0:
                raise SettingsError(
                    "--image-extra-size / DIB_IMAGE_EXTRA_SIZE must not be negative, "
                    f"got {extra_size_mb}."
                )
            kib = du_kib + extra_size_mb * 1024
        else:
            kib = int(du_kib / AUTO_SCALE)
        kib += journal_mb * 1024
        kib = max(kib, _journal_floor_kib(du_kib, journal_mb))
    if efi:
        kib += EFI_EXTRA_KIB
    kib = -(-kib // ROUND_KIB) * ROUND_KIB
    if kib <= 0:
        raise SettingsError("The image size works out to 0; give --image-size.")
    return kib * KiB


def _journal_floor_kib(du_kib: int, journal_mb: int) -> int:
    """The smallest ext4 that holds the tree and its journal.

    mke2fs refuses a journal bigger than half the free blocks, so DIB's formula fails for a
    tree of a few MiB (``Total journal size too big for filesystem``); this floor only ever
    grows such small images. The inode tables of ``-i 4096`` take 1/16 of the file system.
    """
    if journal_mb == 0:
        return 0
    return int((du_kib + 2 * journal_mb * 1024) * 16 / 15) + JOURNAL_FLOOR_SLACK_KIB


def root_mkfs_options(
    fstype: str,
    *,
    user_options: str = "",
    journal_mb: int = 64,
    max_online_resize: int | None = None,
) -> str:
    """The mkfs options of ``mkfs_root`` as ``disk-image-create`` builds ``MKFS_OPTS``.

    For ext4 ``-i 4096 -J size=<journal>`` goes before the user's ``--mkfs-options``; then
    ``MAX_ONLINE_RESIZE`` puts ``-E resize=N`` in front of everything.
    """
    options = user_options.strip()
    if fstype == "ext4":
        options = f"-i 4096 -J size={journal_mb} {options}".strip()
    if max_online_resize is not None:
        options = f"-E resize={max_online_resize} {options}".strip()
    return options


# --------------------------------------------------------------------------- tree size


def tree_size(path: str | os.PathLike[str]) -> int:
    """Bytes the tree at ``path`` occupies, as ``du -a -c -x`` counts it.

    Allocated blocks (``st_blocks`` * 512, so sparse files count what they hold), each
    inode once (hard links), the directories themselves included, symlinks not followed,
    and nothing on another file system (a mount point below ``path`` is skipped whole).
    """
    root = Path(path)
    try:
        root_stat = root.lstat()
    except OSError as exc:
        raise BuildError(f"Cannot measure the tree at {root}: {exc.strerror or exc}.") from exc
    device = root_stat.st_dev
    seen: set[tuple[int, int]] = set()
    total = root_stat.st_blocks * 512
    if not stat.S_ISDIR(root_stat.st_mode):
        return total
    pending = [os.fspath(root)]
    while pending:
        directory = pending.pop()
        try:
            entries = list(os.scandir(directory))
        except FileNotFoundError:
            continue  # removed while we walked
        except OSError as exc:
            raise BuildError(
                f"Cannot measure the tree: {directory} cannot be read ({exc.strerror or exc})."
            ) from exc
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if info.st_dev != device:
                continue  # du -x: another file system
            is_dir = stat.S_ISDIR(info.st_mode)
            if not is_dir and info.st_nlink > 1:
                key = (info.st_dev, info.st_ino)
                if key in seen:
                    continue
                seen.add(key)
            total += info.st_blocks * 512
            if is_dir:
                pending.append(entry.path)
    return total


def round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def round_down(value: int, multiple: int) -> int:
    return value - value % multiple
