"""Unpack a distribution's root image (squashfs or tarball) into the build's target tree.

This replaces diskimage-builder's ``unsquashfs -f -d TARGET image.squashfs`` and
``tar -C TARGET --numeric-owner -xzf root.tar.gz``. The format is told by the file's magic
bytes, never by its name. Extraction is done by the host tools (``unsquashfs``, GNU ``tar``)
because they are fast and keep everything a root tree needs: numeric owners (a uid that does
not exist on the host survives), modes including setuid, device nodes, hard links, symlinks,
extended attributes (``security.capability``, ``user.*``) and timestamps.

Before anything is written, every member is checked so that the host-side extractor cannot be
made to write outside the target directory. The rule (see :func:`check_archive`):

* a member name must be relative and must not contain a ``..`` component (``./`` prefixes and
  ``.`` components are fine);
* every member path is resolved the way the *host kernel* will resolve it while the extractor
  runs, starting at the target directory, using the symlinks that already exist in the target
  plus the symlinks (and hard links to symlinks) that the archive has created so far, in archive
  order. Every symlink that is *traversed* must keep the path inside the target: a relative
  symlink (``bin -> usr/bin``, ``etc/os-release -> ../usr/lib/os-release``) is followed
  lexically and is fine as long as its ``..`` never climbs above the target; an absolute symlink
  is never safe to traverse, because the host extractor would follow it into the *host's* root
  (a chroot would not, but the extractor does not run in one);
* intermediate directories are always traversed; the last component is traversed too for every
  member that is not a symlink or a hard link, because ``unsquashfs -f`` opens an existing file
  and GNU tar keeps an existing symlink to a directory when it meets a directory member;
* a hard link's target obeys the same rule (its last component is not followed: ``link(2)``
  links a symlink itself), and a hard link to a symlink is itself such a symlink from then on;
* once a path has been a symlink it stays one for the check even if a later member is a
  directory or file of the same name (conservative: the extractor may keep the symlink).

Symlinks that merely *point* outside the target are normal in a root tree (``etc/mtab ->
/proc/self/mounts``, ``etc/localtime -> /usr/share/zoneinfo/UTC``, the ``/etc/alternatives``
chains) and are accepted: only a member written *through* one is refused. A real Debian or
Ubuntu root (merged ``/usr``: ``bin -> usr/bin``, ``lib -> usr/lib`` ...) passes, because its
members are stored under their real paths and its absolute symlinks are leaves.

The check and the extraction read the same members, with the same program: tar members are
listed by GNU ``tar --list`` itself (with the options the extraction uses, in the C locale),
never by a second parser. A second parser disagrees exactly where it matters: Python's
``tarfile`` stops silently at a corrupt header, while GNU tar skips it and extracts what
follows, unchecked. The listing must be clean to its very end, or the archive is refused
before anything is written: tar must exit 0 (it does not after "Skipping to next header" or
"Unexpected EOF"), every line of the listing must parse, the archive must end with its
end-of-archive marker, and nothing may follow that marker but zeros (it is listed with
``--ignore-zeros``, so members hidden after the marker are seen and refused).

Members are also refused when they land at or below a mount point inside the target (the
base element bind-mounts the host's ccache directory at ``tmp/ccache`` before the root image
is unpacked): a mount point holds a directory of the host, not of the tree.

For squashfs the members come from ``unsquashfs -lln``, the same program and the same
directory walk as the extraction; a listing that fails refuses the image. A squashfs image is a
tree, so its own symlinks cannot have entries below them; only a crafted image with two
entries of one name could (CVE-2021-41072), and such an image is refused. ``..`` or ``/`` in an
entry name is refused by ``unsquashfs`` itself and by this check. What really matters for
squashfs is the existing target: ``unsquashfs -f`` follows symlinks already there, both in
intermediate directories and for the file it writes.

The archive is read twice (checked, then extracted); it must not change in between, so it
should live in a directory only the build writes (the image cache).
"""

from __future__ import annotations

import enum
import logging
import os
import re
import secrets
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from dibpy.errors import BuildError, CommandError
from dibpy.host.mounts import mounts_under
from dibpy.host.run import Runner

log = logging.getLogger("dibpy.tree.extract")

#: Linux's limit of symlinks followed while resolving one path (``MAXSYMLINKS``).
MAX_SYMLINK_HOPS = 40


class ArchiveFormat(enum.Enum):
    """The kinds of root image :func:`extract_root_image` understands."""

    SQUASHFS = "squashfs"
    TAR = "tar"
    TAR_GZ = "gzip-compressed tar"
    TAR_XZ = "xz-compressed tar"
    TAR_ZST = "zstd-compressed tar"
    TAR_BZ2 = "bzip2-compressed tar"


SUPPORTED = (
    "squashfs, and tar archives that are plain or compressed with gzip, xz, zstd or bzip2 "
    "(told apart by their magic bytes, not by the file name)"
)

# (magic, offset, format); the tar magic covers POSIX ("ustar\0") and GNU ("ustar  ") headers.
_MAGIC: tuple[tuple[bytes, int, ArchiveFormat], ...] = (
    (b"hsqs", 0, ArchiveFormat.SQUASHFS),
    (b"\x1f\x8b", 0, ArchiveFormat.TAR_GZ),
    (b"\xfd7zXZ\x00", 0, ArchiveFormat.TAR_XZ),
    (b"\x28\xb5\x2f\xfd", 0, ArchiveFormat.TAR_ZST),
    (b"BZh", 0, ArchiveFormat.TAR_BZ2),
    (b"ustar", 257, ArchiveFormat.TAR),
)

# GNU tar's decompression flag for each tar format (told by the magic bytes, so never --auto).
_TAR_FLAG: dict[ArchiveFormat, list[str]] = {
    ArchiveFormat.TAR: [],
    ArchiveFormat.TAR_GZ: ["--gzip"],
    ArchiveFormat.TAR_XZ: ["--xz"],
    ArchiveFormat.TAR_ZST: ["--zstd"],
    ArchiveFormat.TAR_BZ2: ["--bzip2"],
}
# Options the listing and the extraction share, so that tar reads the archive the same way.
_TAR_READING = ["--numeric-owner", "--xattrs", "--xattrs-include=*"]


class ArchiveError(BuildError):
    """A root image that cannot be extracted; ``archive`` is its path."""

    def __init__(self, archive: Path, message: str) -> None:
        self.archive = archive
        super().__init__(message)


class UnknownArchiveError(ArchiveError):
    """The file is missing, unreadable, or not in a format dibpy extracts."""


class CorruptArchiveError(ArchiveError):
    """The format was recognised but the archive could not be read to its end."""


class UnsafeArchiveError(ArchiveError):
    """A member would be written outside the target; nothing was extracted."""

    def __init__(self, archive: Path, target: Path, member: str, reason: str) -> None:
        self.target = target
        self.member = member
        self.reason = reason
        super().__init__(
            archive,
            f"Refusing to extract {archive} into {target}: its member {member!r} {reason}. "
            "Extracting it could overwrite files of the build host, so nothing was extracted. "
            "A genuine root image never needs this: the archive is damaged or hostile. Check "
            "where it came from (its URL and checksum), delete it from the image cache and "
            "download it again, or use another image; if the target directory already held "
            "files, start from an empty target.",
        )


@dataclass(frozen=True)
class Member:
    """One entry of an archive, as far as the safety check needs it.

    ``kind`` is ``"dir"``, ``"symlink"``, ``"hardlink"`` or ``"file"`` (regular files, devices,
    fifos: anything written at its path). ``linkname`` is the symlink's target or the path of the
    hard link's original, as stored in the archive.
    """

    name: str
    kind: str
    linkname: str = ""


def detect_format(archive: Path) -> ArchiveFormat:
    """Tell the archive's format from its first bytes; raise UnknownArchiveError otherwise."""
    try:
        with archive.open("rb") as f:
            head = f.read(512)
    except OSError as exc:
        raise UnknownArchiveError(
            archive,
            f"Cannot read the root image {archive}: {exc.strerror or exc}. Check that the path "
            "is right and that the download into the image cache finished.",
        ) from exc
    for magic, offset, fmt in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return fmt
    start = head[:8].hex(" ") if head else "nothing (the file is empty)"
    raise UnknownArchiveError(
        archive,
        f"The root image {archive} is in no format dibpy can extract: it starts with {start}. "
        f"Supported are {SUPPORTED}. Check that the download is complete and is the image "
        "itself (not an HTML error page or a disk image such as qcow2), or convert it.",
    )


def extract_root_image(archive: Path, target: Path, runner: Runner) -> ArchiveFormat:
    """Check ``archive`` (see the module docstring) and extract it into ``target``.

    ``target`` is created if missing; files already in it are overwritten. Returns the format
    found. Raises UnknownArchiveError, CorruptArchiveError or UnsafeArchiveError before anything
    is written, and CommandError when ``unsquashfs``, ``tar`` or ``zstd`` fails.
    """
    fmt = check_archive(archive, target, runner)
    log.info("Extracting %s image %s into %s", fmt.value, archive, target)
    _make_target(archive, target)
    if fmt is ArchiveFormat.SQUASHFS:
        runner.run(["unsquashfs", "-f", "-xattrs", "-no-progress", "-d", target, archive])
    else:
        _run_tar(archive, fmt, target, runner)
    return fmt


def check_archive(archive: Path, target: Path, runner: Runner) -> ArchiveFormat:
    """Run only the checks of :func:`extract_root_image`; return the format found."""
    fmt = detect_format(archive)
    if fmt is ArchiveFormat.SQUASHFS:
        members = _squashfs_members(archive, target, runner)
    else:
        members = list_tar_members(archive, fmt, runner)
    check_members(archive, target, members)
    return fmt


def check_members(archive: Path, target: Path, members: Iterable[Member]) -> None:
    """Raise UnsafeArchiveError for the first member that could land outside ``target``.

    ``members`` must be in the order the extractor writes them. ``target`` may not exist yet;
    if it does, the symlinks already in it are taken into account. ``archive`` is only named
    in the error.
    """
    resolver = _Resolver(target)
    for member in members:
        try:
            _check_member(resolver, member)
        except _Escape as exc:
            raise UnsafeArchiveError(archive, target, member.name, exc.reason) from None


# --- the check ---------------------------------------------------------------------------


class _Escape(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _parts(name: str, hardlink: bool = False) -> tuple[str, ...]:
    """The components of an archive path; refuse absolute paths and ``..``."""
    what = f"is a hard link to {name!r}, which" if hardlink else "is a name that"
    if name.startswith("/"):
        raise _Escape(f"{what} is absolute")
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if ".." in parts:
        raise _Escape(f"{what} has a '..' component")
    return parts


class _Resolver:
    """Resolves archive paths as the host kernel will while extracting into ``target``."""

    def __init__(self, target: Path) -> None:
        self.target = target
        # Symlinks the archive has created so far, by their resolved path in the target.
        self.links: dict[tuple[str, ...], str] = {}
        self._on_disk: dict[tuple[str, ...], str | None] = {}
        try:
            self._target_empty = not any(os.scandir(target))
        except (FileNotFoundError, NotADirectoryError):
            self._target_empty = True
        # Mount points strictly below the target (the host's ccache directory, say).
        self.mounts: set[tuple[str, ...]] = set()
        if not self._target_empty:
            root = target.resolve()
            self.mounts = {p.relative_to(root).parts for p in mounts_under(root) if p != root}

    def refuse_mounted(self, path: tuple[str, ...]) -> None:
        """Raise _Escape if ``path`` is a mount point in the target or lies below one."""
        for end in range(1, len(path) + 1):
            if path[:end] in self.mounts:
                raise _Escape(
                    f"would be written {'at' if end == len(path) else 'below'} "
                    f"{'/'.join(path[:end])!r}, a mount point in the target directory: a "
                    "directory of the build host is mounted there, not one of the tree"
                )

    def symlink_at(self, path: tuple[str, ...]) -> tuple[str | None, str]:
        """The target of the symlink at ``path`` (None if none) and where that symlink is from."""
        if path in self.links:
            return self.links[path], "the archive"
        if self._target_empty:
            return None, ""
        if path not in self._on_disk:
            try:
                self._on_disk[path] = os.readlink(self.target.joinpath(*path))
            except OSError:
                self._on_disk[path] = None
        return self._on_disk[path], "the existing target directory"

    def resolve(self, parts: tuple[str, ...], follow_last: bool) -> tuple[str, ...]:
        """The path ``parts`` really names inside the target; raise _Escape if it leaves it.

        Each pending component carries the symlink it came from (None for the member's own
        components), so that an escape names the symlink responsible.
        """
        resolved: list[str] = []
        pending: deque[tuple[str, str | None]] = deque((p, None) for p in parts)
        hops = 0
        while pending:
            part, via = pending.popleft()
            if part in ("", "."):
                continue
            if part == "..":
                if not resolved:
                    raise _Escape(
                        f"would be written through the symlink {via}, which climbs above the "
                        "target directory"
                        if via
                        else "would be written above the target directory"
                    )
                resolved.pop()
                continue
            resolved.append(part)
            if not pending and not follow_last:
                break
            link, origin = self.symlink_at(tuple(resolved))
            if link is None:
                continue
            where = f"{'/'.join(resolved)!r} -> {link!r} from {origin}"
            hops += 1
            if hops > MAX_SYMLINK_HOPS:
                raise _Escape(f"is reached through a symlink loop at {where}")
            if link.startswith("/"):
                raise _Escape(
                    f"would be written through the symlink {where}, which is absolute: the "
                    "host extractor would follow it out of the target directory"
                )
            # The rest of the path continues from the directory that holds the symlink.
            resolved.pop()
            pending.extendleft((p, where) for p in reversed(link.split("/")))
        return tuple(resolved)


def _check_member(resolver: _Resolver, member: Member) -> None:
    parts = _parts(member.name)
    if not parts:
        if member.kind != "dir":
            raise _Escape(f"is a {member.kind} that would replace the target directory itself")
        return
    parent = resolver.resolve(parts[:-1], follow_last=True)
    path = (*parent, parts[-1])
    if member.kind == "symlink":
        resolver.refuse_mounted(path)
        resolver.links[path] = member.linkname
    elif member.kind == "hardlink":
        resolver.refuse_mounted(path)
        original = resolver.resolve(_parts(member.linkname, hardlink=True), False)
        if not original:
            raise _Escape("is a hard link to the target directory itself")
        resolver.refuse_mounted(original)
        link, _ = resolver.symlink_at(original)
        if link is not None:
            resolver.links[path] = link
    else:
        resolver.refuse_mounted(resolver.resolve(path, follow_last=True))


# --- reading the members -----------------------------------------------------------------


def _quoted(group: str) -> str:
    """A string as GNU tar prints it with --quoting-style=c in the C locale: in double quotes,
    with backslash escapes for the quote, the backslash, control characters and non-ASCII."""
    return rf'"(?P<{group}>(?:[^"\\]|\\(?:[0-7]{{3}}|[\\"abfnrtv]))*)"'


# One line of `tar --list --verbose --block-number --quoting-style=c`: a marker, or a member
# (type, permissions, an xattr mark, uid/gid, size and time, none of which holds a quote;
# then the quoted name and what tar says after it).
_TAR_LINE = re.compile(
    r"block (?P<block>\d+): (?:\*\* (?P<marker>Block of NULs|End of File) \*\*"
    rf'|(?P<type>\S)\S{{9}}\S? [^"]*{_quoted("name")}'
    rf"(?: -> {_quoted('symlink')}| link to {_quoted('hardlink')}"
    r"| unknown file type .*|--Volume Header--|--Continued at byte \d+--)?)"
)
_C_ESCAPE = re.compile(rb"\\(?:([0-7]{3})|(.))")
_C_CHARS = {b"a": b"\a", b"b": b"\b", b"f": b"\f", b"n": b"\n", b"r": b"\r", b"t": b"\t",
            b"v": b"\v", b"\\": b"\\", b'"': b'"'}  # fmt: skip
_TAR_KIND = {"d": "dir", "l": "symlink", "h": "hardlink"}  # anything else is written as a file


def _c_unquote(text: str) -> str:
    """The name inside a --quoting-style=c string (already stripped of its quotes)."""

    def one(match: re.Match[bytes]) -> bytes:
        octal, char = match.groups()
        return bytes([int(octal, 8)]) if octal else _C_CHARS[char]

    raw = _C_ESCAPE.sub(one, text.encode("utf-8", "surrogateescape"))
    return raw.decode("utf-8", "surrogateescape")


def _tar_command(fmt: ArchiveFormat, archive: Path, *action: str | Path) -> list[str | Path]:
    return ["tar", *action, *_TAR_FLAG[fmt], "--file", archive, *_TAR_READING]


def _c_locale(runner: Runner) -> dict[str, str]:
    """The build's environment in the C locale: tar's messages and its listing are then in
    plain ASCII, and names in pax headers are kept byte for byte by both passes."""
    return {**runner.env, "LC_ALL": "C"}


def list_tar_members(archive: Path, fmt: ArchiveFormat, runner: Runner) -> list[Member]:
    """The members GNU tar will extract from ``archive``, as GNU tar itself lists them.

    Raise CorruptArchiveError unless the listing is clean to the archive's end (see the module
    docstring), UnknownArchiveError when a compressed file holds no tar archive at all.
    """
    # --absolute-names only stops tar renaming what it lists (it strips a leading "/" and
    # everything up to a "../" from names and hard link targets): the check sees the names as
    # stored and refuses every one tar would rename, so an accepted name is the one tar writes.
    argv = _tar_command(
        fmt, archive, "--list", "--verbose", "--block-number", "--ignore-zeros",
        "--quoting-style=c", "--absolute-names",
    )  # fmt: skip
    try:
        listing = runner.run(argv, env=_c_locale(runner), capture=True).stdout
    except CommandError as exc:
        said = _complaint(exc)
        if fmt is not ArchiveFormat.TAR and any("does not look like a tar" in s for s in said):
            kind = fmt.value.removesuffix(" tar")
            raise UnknownArchiveError(
                archive,
                f"The root image {archive} is {kind} but what it holds is not a tar "
                f"archive. Supported are {SUPPORTED}. Check that the download is the root "
                "tarball or squashfs image and is complete, not some other file.",
            ) from exc
        raise _corrupt(archive, fmt, "; ".join(said[-3:])) from exc
    return parse_tar_listing(archive, fmt, listing)


def parse_tar_listing(archive: Path, fmt: ArchiveFormat, text: str) -> list[Member]:
    """The members in the output of the listing :func:`list_tar_members` runs.

    Every line must be understood; members must come before the first block of zeros (the
    end-of-archive marker, after which tar stops extracting), and that marker must be there.
    """
    members: list[Member] = []
    end_of_archive = end_of_file = False
    for line in text.removesuffix("\n").split("\n"):
        match = _TAR_LINE.fullmatch(line)
        if match is None or end_of_file:
            raise _unreadable_listing(archive, line)
        if match["marker"] == "End of File":
            end_of_file = True
            continue
        if match["marker"]:
            end_of_archive = True
            continue
        name = _c_unquote(match["name"])
        if end_of_archive:
            raise _corrupt(
                archive,
                fmt,
                f"its member {name!r} at block {match['block']} comes after the end-of-archive "
                "marker, where tar stops extracting: it is hidden from the check",
            )
        kind = _TAR_KIND.get(match["type"], "file")
        if (kind == "symlink") != (match["symlink"] is not None) or (kind == "hardlink") != (
            match["hardlink"] is not None
        ):
            raise _unreadable_listing(archive, line)
        link = match["symlink"] or match["hardlink"] or ""
        members.append(Member(name, kind, _c_unquote(link)))
    if not end_of_archive:
        raise _corrupt(archive, fmt, "it ends without the end-of-archive marker: truncated?")
    return members


def _unreadable_listing(archive: Path, line: str) -> CorruptArchiveError:
    return CorruptArchiveError(
        archive,
        f"Cannot understand the listing `tar --list` gives for {archive} (the line {line!r}), "
        "so its safety cannot be checked and nothing was extracted. Check that GNU tar is "
        "installed as `tar` and that the archive is not damaged.",
    )


def _corrupt(archive: Path, fmt: ArchiveFormat, reason: str) -> CorruptArchiveError:
    return CorruptArchiveError(
        archive,
        f"The root image {archive} looks like a {fmt.value} but cannot be read to its end "
        f"({reason}), so nothing was extracted: an archive must list cleanly to its end, "
        "because an extractor that skips what it cannot read writes what follows unchecked. "
        "The download is probably truncated or damaged: delete it from the image cache and "
        "download it again, and compare its checksum.",
    )


def _complaint(exc: CommandError) -> list[str]:
    """The last lines a listing tool printed when it failed; re-raise if it never ran."""
    if not 0 < exc.returncode < 127:  # killed, or could not be started
        raise exc
    return exc.output_tail.strip().splitlines() or [str(exc)]


def _squashfs_members(archive: Path, target: Path, runner: Runner) -> list[Member]:
    # A random prefix that no file name can forge, so lines are told apart reliably even
    # when a name contains a newline. -d with -lln only names the listing; nothing is made.
    prefix = f"dibpy-listing-{secrets.token_hex(8)}"
    try:
        listing = runner.run(["unsquashfs", "-lln", "-d", prefix, archive], capture=True).stdout
    except CommandError as exc:
        said = _complaint(exc)
        raise _corrupt(archive, ArchiveFormat.SQUASHFS, "; ".join(said[-3:])) from exc
    members = parse_squashfs_listing(archive, listing, prefix)
    # A tree has one entry per name; a crafted image with two (a symlink and a directory of
    # one name, CVE-2021-41072) would let the second be written through the first.
    seen: set[str] = set()
    for member in members:
        if member.name in seen:
            raise UnsafeArchiveError(
                archive, target, member.name, "appears twice in the same directory of the image"
            )
        seen.add(member.name)
    return members


def parse_squashfs_listing(archive: Path, text: str, prefix: str) -> list[Member]:
    """The members listed by ``unsquashfs -lln -d PREFIX``, in listing order.

    A line that does not start like a listing line continues the name of the line before (a
    name with a newline). A symlink's target is split off using its length, which the listing
    prints as the size, so that names containing `` -> `` are read right.
    """
    line_re = re.compile(
        r"(?P<mode>[-dlcbps][-rwxsStT]{9}) \d+/\d+ +(?P<size>\d+|\d+, *\d+) "
        r"\d{4}-\d\d-\d\d \d\d:\d\d " + re.escape(prefix) + r"(?P<rest>(?:/.*)?)"
    )
    entries: list[tuple[str, str, str]] = []  # mode, size, rest
    for line in text.split("\n"):
        match = line_re.fullmatch(line)
        if match:
            entries.append((match["mode"], match["size"], match["rest"]))
        elif entries:
            mode, size, rest = entries[-1]
            entries[-1] = (mode, size, f"{rest}\n{line}")
        elif line:
            raise CorruptArchiveError(
                archive,
                f"Cannot understand the listing `unsquashfs -lln` gives for {archive} (first "
                f"line {line!r}), so its safety cannot be checked and nothing was extracted. "
                "Check that squashfs-tools 4.5 or newer is installed and that the image is "
                "not damaged.",
            )
    if entries and entries[-1][2].endswith("\n"):
        mode, size, rest = entries[-1]
        entries[-1] = (mode, size, rest[:-1])
    members: list[Member] = []
    for mode, size, rest in entries:
        name, linkname = rest.removeprefix("/"), ""
        if mode[0] == "l":
            name, linkname = _split_symlink(name, int(size))
        kind = {"d": "dir", "l": "symlink"}.get(mode[0], "file")
        members.append(Member(name or ".", kind, linkname))
    return members


def _split_symlink(text: str, size: int) -> tuple[str, str]:
    raw = text.encode("utf-8", "surrogateescape")
    cut = len(raw) - size
    if cut >= 4 and raw[cut - 4 : cut] == b" -> ":
        return (
            raw[: cut - 4].decode("utf-8", "surrogateescape"),
            raw[cut:].decode("utf-8", "surrogateescape"),
        )
    # The size did not fit (a name the listing could not decode): split at the last arrow.
    name, _, link = text.rpartition(" -> ")
    return name, link


# --- extracting ----------------------------------------------------------------------------


def _make_target(archive: Path, target: Path) -> None:
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ArchiveError(
            archive,
            f"Cannot create the target directory {target} to extract {archive} into: "
            f"{exc.strerror or exc}. Check that the path is a directory on a writable file "
            "system.",
        ) from exc


def _run_tar(archive: Path, fmt: ArchiveFormat, target: Path, runner: Runner) -> None:
    # The same reading options and locale as the listing: the same members come out.
    argv = _tar_command(
        fmt, archive, "--extract", "--directory", target, "--same-owner", "--same-permissions"
    )
    runner.run(argv, env=_c_locale(runner))
