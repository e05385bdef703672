"""Compare two image trees: the engine behind ``dibpy diff``.

A tree is a directory, or a tar archive (``.tar``, ``.tar.gz``/``.tgz``, ``.tar.xz``,
``.tar.zst``) as ``-t tar`` writes it, read without extracting. Each path is reduced to an
``Entry``: its type, permission bits, numeric owner, symlink target and, for a regular file,
the SHA256 of its content (device numbers for device nodes). Two trees differ where a path
is in only one of them or where any of those fields differ.

Differences a comparison expects (timestamps are never compared; machine-id, logs, caches)
are given as ``Allowance``s: a glob over the path and the reason it may differ, so that
every tolerated difference is stated where it is tolerated. Used by the legacy-port
equality tests, and meant for the whole-image comparison with DIB and for cached builds.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import stat
import tarfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from dibpy.errors import InputError

CHUNK = 1 << 20
TYPES = {
    stat.S_IFREG: "file",
    stat.S_IFDIR: "dir",
    stat.S_IFLNK: "symlink",
    stat.S_IFCHR: "char",
    stat.S_IFBLK: "block",
    stat.S_IFIFO: "fifo",
    stat.S_IFSOCK: "socket",
}
TAR_TYPES = {
    tarfile.REGTYPE: "file",
    tarfile.AREGTYPE: "file",
    tarfile.DIRTYPE: "dir",
    tarfile.SYMTYPE: "symlink",
    tarfile.CHRTYPE: "char",
    tarfile.BLKTYPE: "block",
    tarfile.FIFOTYPE: "fifo",
}
FIELDS = ("type", "mode", "uid", "gid", "target", "sha256", "device")


@dataclass(frozen=True)
class Entry:
    """What is compared of one path."""

    type: str
    mode: int  # permission bits, with setuid/setgid/sticky
    uid: int
    gid: int
    target: str = ""  # a symlink's target
    sha256: str = ""  # a regular file's content
    device: str = ""  # "major,minor" of a device node


@dataclass(frozen=True)
class Allowance:
    """Paths matching ``pattern`` (fnmatch, against ``/path``) may differ, for ``reason``.

    ``fields`` limits the allowance to those fields (e.g. only ``sha256``); empty: any
    difference, including the path being in one tree only."""

    pattern: str
    reason: str
    fields: tuple[str, ...] = ()

    def covers(self, path: str, changed: Iterable[str]) -> bool:
        if not fnmatch.fnmatchcase(path, self.pattern):
            return False
        return not self.fields or set(changed) <= set(self.fields)


@dataclass(frozen=True)
class Difference:
    """One path that differs: in ``left`` only, ``right`` only, or ``changed`` fields."""

    path: str
    kind: str  # "only-left", "only-right" or "changed"
    changed: tuple[str, ...] = ()
    left: Entry | None = None
    right: Entry | None = None
    allowed_by: str = ""  # the reason of the allowance that covers it, if one does

    def describe(self) -> str:
        if self.kind == "only-left":
            text = f"{self.path}: only in the left tree ({_short(self.left)})"
        elif self.kind == "only-right":
            text = f"{self.path}: only in the right tree ({_short(self.right)})"
        else:
            assert self.left is not None and self.right is not None  # noqa: S101 (for mypy)
            parts = [
                f"{name} {_field(self.left, name)} != {_field(self.right, name)}"
                for name in self.changed
            ]
            text = f"{self.path}: {'; '.join(parts)}"
        return f"{text} [allowed: {self.allowed_by}]" if self.allowed_by else text


@dataclass
class Comparison:
    """The result: every difference, and whether those not allowed are none."""

    differences: list[Difference] = field(default_factory=list)
    compared: int = 0

    @property
    def unexpected(self) -> list[Difference]:
        return [d for d in self.differences if not d.allowed_by]

    @property
    def equal(self) -> bool:
        return not self.unexpected

    def report(self, *, show_allowed: bool = False) -> str:
        shown = self.differences if show_allowed else self.unexpected
        lines = [d.describe() for d in shown]
        allowed = len(self.differences) - len(self.unexpected)
        summary = (
            f"{self.compared} paths compared: {len(self.unexpected)} unexpected differences, "
            f"{allowed} allowed."
        )
        return "\n".join([*lines, summary])

    def to_dict(self) -> dict[str, Any]:
        return {
            "compared": self.compared,
            "equal": self.equal,
            "differences": [
                {
                    "path": d.path,
                    "kind": d.kind,
                    "changed": list(d.changed),
                    "left": asdict(d.left) if d.left else None,
                    "right": asdict(d.right) if d.right else None,
                    "allowed_by": d.allowed_by or None,
                }
                for d in self.differences
            ],
        }


def parse_allowance(text: str) -> Allowance:
    """``GLOB`` or ``GLOB=FIELD,FIELD`` (the command line's ``--allow``)."""
    pattern, _, fields = text.partition("=")
    names = tuple(f for f in fields.split(",") if f) if fields else ()
    unknown = [f for f in names if f not in FIELDS]
    if not pattern or unknown:
        raise InputError(
            f"--allow {text!r} is not GLOB or GLOB=FIELDS: the fields are "
            f"{', '.join(FIELDS)}; for example --allow '/etc/machine-id' or "
            "--allow '/var/log/*=sha256'."
        )
    return Allowance(pattern, f"--allow {text}", names)


def read_tree(source: Path) -> dict[str, Entry]:
    """``{"/path": Entry}`` of a directory or a tar archive (the root itself is ``/``)."""
    if source.is_dir():
        return dict(_walk_directory(source))
    if source.is_file() and tarfile.is_tarfile(source):
        return dict(_walk_tar(source))
    raise InputError(
        f"{source} is neither a directory nor a tar archive. dibpy diff compares two trees: "
        "give directories or the tar files `dibpy build -t tar` writes."
    )


def compare(
    left: Mapping[str, Entry] | Path,
    right: Mapping[str, Entry] | Path,
    allowances: Iterable[Allowance] = (),
) -> Comparison:
    """Every difference between ``left`` and ``right``, each marked with the allowance
    that covers it, if any."""
    a = read_tree(left) if isinstance(left, Path) else left
    b = read_tree(right) if isinstance(right, Path) else right
    rules = list(allowances)
    result = Comparison(compared=len(a.keys() | b.keys()))
    for path in sorted(a.keys() | b.keys()):
        one, other = a.get(path), b.get(path)
        if one == other:
            continue
        if one is None or other is None:
            kind = "only-right" if one is None else "only-left"
            difference = Difference(path, kind, (), one, other)
        else:
            changed = tuple(f for f in FIELDS if getattr(one, f) != getattr(other, f))
            difference = Difference(path, "changed", changed, one, other)
        reason = next(
            (r.reason for r in rules if r.covers(path, difference.changed or ("presence",))),
            "",
        )
        result.differences.append(_allowed(difference, reason))
    return result


def _allowed(difference: Difference, reason: str) -> Difference:
    if not reason:
        return difference
    return Difference(
        difference.path,
        difference.kind,
        difference.changed,
        difference.left,
        difference.right,
        reason,
    )


def _walk_directory(root: Path) -> Iterator[tuple[str, Entry]]:
    for directory, dirs, files in os.walk(root):
        here = Path(directory)
        for name in [*dirs, *files]:
            path = here / name
            yield "/" + str(path.relative_to(root)), entry_of(path)
    yield "/", entry_of(root)


def entry_of(path: Path) -> Entry:
    """What the comparison records of one path (not followed if a link): type, mode,
    owner, group, and its link target, content digest or device numbers."""
    info = path.lstat()
    kind = TYPES.get(stat.S_IFMT(info.st_mode), "other")
    entry = Entry(kind, stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid)
    if kind == "symlink":
        return replace(entry, target=os.readlink(path))
    if kind == "file":
        return replace(entry, sha256=_sha256(path))
    if kind in ("char", "block"):
        return replace(entry, device=f"{os.major(info.st_rdev)},{os.minor(info.st_rdev)}")
    return entry


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _walk_tar(archive: Path) -> Iterator[tuple[str, Entry]]:
    hard_links: dict[str, str] = {}
    with tarfile.open(archive) as tar:
        for member in tar:
            name = _tar_path(member.name)
            entry = Entry(
                TAR_TYPES.get(member.type, "other"), member.mode & 0o7777, member.uid, member.gid
            )
            if member.islnk():  # a hard link has its target's content
                yield name, replace(entry, type="file", sha256=hard_links.get(member.linkname, ""))
            elif entry.type == "file":
                stream = tar.extractfile(member)
                assert stream is not None  # noqa: S101 (narrows for mypy)
                digest = hashlib.sha256()
                while chunk := stream.read(CHUNK):
                    digest.update(chunk)
                hard_links[member.name] = digest.hexdigest()
                yield name, replace(entry, sha256=digest.hexdigest())
            elif entry.type == "symlink":
                yield name, replace(entry, target=member.linkname)
            elif entry.type in ("char", "block"):
                yield name, replace(entry, device=f"{member.devmajor},{member.devminor}")
            else:
                yield name, entry


def _tar_path(name: str) -> str:
    """``./etc/x``, ``etc/x`` and ``/etc/x`` are all ``/etc/x``; ``.`` is ``/``."""
    while name.startswith("./"):
        name = name[2:]
    name = name.strip("/")
    return "/" if name in ("", ".") else "/" + name


def _short(entry: Entry | None) -> str:
    if entry is None:
        return "-"
    return f"{entry.type} {entry.mode:04o} {entry.uid}:{entry.gid}"


def _field(entry: Entry, name: str) -> str:
    value: object = getattr(entry, name)
    if name == "mode":
        return f"{value:04o}"
    if name == "sha256":
        return str(value)[:12]
    return str(value) if value != "" else "''"
