"""XFS made from a tree without mounting anything: ``mkfs.xfs -p PROTOFILE``.

mkfs.xfs (xfsprogs 6.1, Debian 12) fills a new file system from a prototype file that lists
every directory, file, symlink, device node and fifo with its mode and owner. ``protofile``
writes that list from the tree, and refuses, naming the path, what the format cannot say:

- names and symlink targets with white space, and names that the format reads as a comment
  (``:...``) or as the end of a directory (``$``): its tokens are white-space separated;
- extended attributes (file capabilities such as ping's ``cap_net_raw``, SELinux labels):
  mkfs.xfs would silently drop them, and a tree that loses them is not the tree that was
  built;
- sockets.

Two things it cannot say are mended instead: a hard link becomes a copy of the file (Debian's
``perl`` and ``perl5.36.0`` are one), and the sticky bit (``/tmp``), which the format lacks,
is set afterwards with ``xfs_db -x``. File times are not kept (as with vfat).
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from dibpy.errors import BuildError
from dibpy.host.run import Runner

log = logging.getLogger("dibpy.blockdev.xfs")

_TYPE_CHARS = {
    stat.S_IFREG: "-",
    stat.S_IFDIR: "d",
    stat.S_IFLNK: "l",
    stat.S_IFBLK: "b",
    stat.S_IFCHR: "c",
    stat.S_IFIFO: "p",
}


class ProtofileError(BuildError):
    """The tree holds something mkfs.xfs's prototype file cannot describe."""


def _mode_token(info: os.stat_result) -> str:
    kind = _TYPE_CHARS[stat.S_IFMT(info.st_mode)]
    setuid = "u" if info.st_mode & stat.S_ISUID else "-"
    setgid = "g" if info.st_mode & stat.S_ISGID else "-"
    return f"{kind}{setuid}{setgid}{stat.S_IMODE(info.st_mode) & 0o777:03o}"


def _check_token(text: str, path: Path, what: str) -> None:
    if not text or any(c.isspace() for c in text):
        raise ProtofileError(
            f"Cannot make an xfs file system from the tree: {what} {text!r} of {path} is empty "
            "or has white space, which mkfs.xfs's prototype file cannot hold. Rename it, or "
            "use ext4 for this file system."
        )


def _check_entry(path: Path, info: os.stat_result) -> None:
    _check_token(path.name, path, "the name")
    if path.name == "$" or path.name.startswith(":"):
        raise ProtofileError(
            f"Cannot make an xfs file system from the tree: the name of {path} reads as "
            "syntax in mkfs.xfs's prototype file. Rename it, or use ext4."
        )
    if stat.S_IFMT(info.st_mode) not in _TYPE_CHARS:
        raise ProtofileError(
            f"Cannot make an xfs file system from the tree: {path} is a socket, which "
            "mkfs.xfs's prototype file cannot hold. Remove it in a cleanup hook, or use ext4."
        )
    names = os.listxattr(path, follow_symlinks=False)
    if names:
        raise ProtofileError(
            f"Cannot make an xfs file system from the tree: {path} has extended attributes "
            f"({', '.join(names)}), which mkfs.xfs's prototype file would drop. Use ext4 for "
            "this file system (mke2fs keeps them)."
        )


Sticky = list[tuple[str, int]]  # (path inside the file system, its full st_mode)


def _entries(directory: Path, depth: int, sticky: Sticky, inside: str) -> Iterator[str]:
    indent = " " * depth
    with os.scandir(directory) as scan:
        children = sorted(scan, key=lambda entry: entry.name)
    for child in children:
        path = Path(child.path)
        info = os.lstat(path)
        _check_entry(path, info)
        owner = f"{info.st_uid} {info.st_gid}"
        head = f"{indent}{child.name} {_mode_token(info)} {owner}"
        kind = stat.S_IFMT(info.st_mode)
        if kind == stat.S_IFDIR:
            if info.st_mode & stat.S_ISVTX:
                sticky.append((f"{inside}/{child.name}", info.st_mode))
            yield head
            yield from _entries(path, depth + 1, sticky, f"{inside}/{child.name}")
            yield f"{indent}$"
        elif kind == stat.S_IFREG:
            _check_token(str(path), path, "the host path")
            yield f"{head} {path}"
        elif kind == stat.S_IFLNK:
            target = os.readlink(path)
            _check_token(target, path, "the symlink target")
            yield f"{head} {target}"
        elif kind in (stat.S_IFBLK, stat.S_IFCHR):
            yield f"{head} {os.major(info.st_rdev)} {os.minor(info.st_rdev)}"
        else:
            yield head


def protofile(tree: Path) -> tuple[str, Sticky]:
    """The prototype file for ``tree``, and the directories whose sticky bit must be set
    afterwards (as paths inside the new file system, with their modes)."""
    info = os.lstat(tree)
    sticky: Sticky = [("/", info.st_mode)] if info.st_mode & stat.S_ISVTX else []
    lines = ["dibpy", "0 0", f"{_mode_token(info)} {info.st_uid} {info.st_gid}"]
    lines += _entries(tree, 1, sticky, "")
    lines.append("$")
    return "\n".join(lines) + "\n", sticky


def make_xfs(
    image: Path,
    tree: Path | None,
    *,
    label: str,
    uuid: str,
    options: tuple[str, ...],
    scratch: Path,
    runner: Runner,
) -> None:
    """mkfs.xfs on the file ``image`` (already at its size), filled from ``tree``."""
    argv = ["mkfs.xfs", "-q", "-f", *options]
    if label:
        argv += ["-L", label]
    if uuid:
        argv += ["-m", f"uuid={uuid}"]
    sticky: Sticky = []
    if tree is not None:
        text, sticky = protofile(tree)
        proto = scratch / f"{image.name}.proto"
        proto.write_text(text)
        argv += ["-p", str(proto)]
    runner.run([*argv, str(image)])
    for path, mode in sticky:
        log.debug("xfs: sticky bit on %s", path)
        runner.run(
            ["xfs_db", "-x", "-c", f"path {path}", "-c", f"write core.mode 0{mode:o}", str(image)]
        )
