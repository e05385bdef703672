"""Tests of dibpy.tree.extract on real archives, extracted for real with tar and unsquashfs."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import shutil
import stat
import struct
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

from dibpy.errors import BuildError, CommandError
from dibpy.host import mounts
from dibpy.host.run import Runner
from dibpy.tree.extract import (
    ArchiveFormat,
    CorruptArchiveError,
    Member,
    UnknownArchiveError,
    UnsafeArchiveError,
    check_archive,
    check_members,
    detect_format,
    extract_root_image,
    list_tar_members,
    parse_squashfs_listing,
    parse_tar_listing,
)

requires_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="extracting owners, setuid bits and device nodes needs root"
)
needs_squashfs = pytest.mark.skipif(
    shutil.which("mksquashfs") is None or shutil.which("unsquashfs") is None,
    reason="squashfs-tools (mksquashfs, unsquashfs) is not installed",
)

MTIME = 1_234_567_890
UID, GID = 4242, 4243
# A valid VFS_CAP_REVISION_2 security.capability value: cap_net_raw permitted and effective.
CAPABILITY = struct.pack("<IIIII", 0x02000001, 1 << 13, 0, 0, 0)


@pytest.fixture
def runner() -> Runner:
    return Runner()


@dataclass
class M:
    """A tar member to write: kind is file, dir, symlink, hardlink or chardev."""

    name: str
    kind: str = "file"
    data: bytes = b""
    linkname: str = ""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    device: tuple[int, int] = (0, 0)
    xattrs: dict[str, bytes] | None = None


_TYPES = {
    "file": tarfile.REGTYPE,
    "dir": tarfile.DIRTYPE,
    "symlink": tarfile.SYMTYPE,
    "hardlink": tarfile.LNKTYPE,
    "chardev": tarfile.CHRTYPE,
}


def _add(tar: tarfile.TarFile, m: M) -> None:
    info = tarfile.TarInfo(m.name)
    info.type = _TYPES[m.kind]
    info.mode, info.uid, info.gid, info.mtime = m.mode, m.uid, m.gid, MTIME
    info.linkname = m.linkname
    info.devmajor, info.devminor = m.device
    info.pax_headers = {
        f"SCHILY.xattr.{key}": value.decode("utf-8", "surrogateescape")
        for key, value in (m.xattrs or {}).items()
    }
    info.size = len(m.data) if m.kind == "file" else 0
    tar.addfile(info, io.BytesIO(m.data) if m.kind == "file" else None)


def make_tar(path: Path, members: Iterable[M], compression: str = "gz") -> Path:
    """Write a tar archive of crafted members (pax format, as GNU tar --xattrs reads it)."""
    mode = f"w:{compression}" if compression else "w"
    with tarfile.open(path, mode, format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
        for m in members:
            _add(tar, m)
    return path


def tar_blocks(members: Iterable[M]) -> bytes:
    """The tar blocks of ``members`` without the end-of-archive marker: to splice archives."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for m in members:
            _add(tar, m)
        end = tar.offset
    return buffer.getvalue()[:end]


#: The end-of-archive marker: two blocks of zeros.
END = b"\0" * 1024


def snapshot(root: Path) -> dict[str, tuple[int, str]]:
    """Every path under root with its mode and content or link target: to see changes."""
    seen: dict[str, tuple[int, str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            st = p.lstat()
            if stat.S_ISLNK(st.st_mode):
                what = os.readlink(p)
            elif stat.S_ISREG(st.st_mode):
                what = p.read_text(errors="replace")
            else:
                what = ""
            seen[str(p.relative_to(root))] = (st.st_mode, what)
    return seen


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    """A directory beside the target that no extraction may touch."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("original\n")
    return outside


def mksquashfs(runner: Runner, src: Path, image: Path) -> Path:
    runner.run(["mksquashfs", src, image, "-noappend", "-no-progress", "-quiet"])
    return image


# --- format detection --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("compression", "expected"),
    [
        ("", ArchiveFormat.TAR),
        ("gz", ArchiveFormat.TAR_GZ),
        ("xz", ArchiveFormat.TAR_XZ),
        ("bz2", ArchiveFormat.TAR_BZ2),
    ],
)
def test_detect_format_by_magic_not_name(
    tmp_path: Path, compression: str, expected: ArchiveFormat
) -> None:
    archive = make_tar(tmp_path / "misleading.squashfs", [M("a", data=b"x")], compression)
    assert detect_format(archive) is expected


def test_detect_format_zstd_and_squashfs(tmp_path: Path) -> None:
    zst = tmp_path / "root.tar.gz"
    zst.write_bytes(b"\x28\xb5\x2f\xfd" + b"\0" * 20)
    sqfs = tmp_path / "image.tar"
    sqfs.write_bytes(b"hsqs" + b"\0" * 100)
    assert detect_format(zst) is ArchiveFormat.TAR_ZST
    assert detect_format(sqfs) is ArchiveFormat.SQUASHFS


@pytest.mark.parametrize(
    "content",
    [b"", b"<html>404 Not Found</html>", b"PK\x03\x04zipzipzip", b"QFI\xfb" + b"\0" * 600],
    ids=["empty", "html", "zip", "qcow2"],
)
def test_unknown_format_is_refused(tmp_path: Path, runner: Runner, content: bytes) -> None:
    archive = tmp_path / "root.tar.gz"
    archive.write_bytes(content)
    with pytest.raises(UnknownArchiveError) as info:
        extract_root_image(archive, tmp_path / "target", runner)
    message = str(info.value)
    assert str(archive) in message
    assert "squashfs" in message and "zstd" in message
    assert isinstance(info.value, BuildError)
    assert not (tmp_path / "target").exists()


def test_missing_archive_is_refused(tmp_path: Path, runner: Runner) -> None:
    with pytest.raises(UnknownArchiveError, match="Cannot read"):
        extract_root_image(tmp_path / "nope.tar.gz", tmp_path / "target", runner)


def test_gzip_that_holds_no_tar_is_refused(tmp_path: Path, runner: Runner) -> None:
    archive = tmp_path / "root.tar.gz"
    archive.write_bytes(gzip.compress(b"just some text, not a tar archive\n" * 40))
    with pytest.raises(UnknownArchiveError, match="gzip-compressed but what it holds"):
        extract_root_image(archive, tmp_path / "target", runner)
    assert not (tmp_path / "target").exists()


def test_truncated_tarball_is_corrupt_and_nothing_is_written(
    tmp_path: Path, runner: Runner
) -> None:
    members = [M(f"f{i}", data=os.urandom(4000)) for i in range(20)]
    full = make_tar(tmp_path / "full.tar.gz", members)
    archive = tmp_path / "root.tar.gz"
    archive.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(CorruptArchiveError, match="cannot be read to its end"):
        extract_root_image(archive, tmp_path / "target", runner)
    assert not (tmp_path / "target").exists()


# --- hostile archives ----------------------------------------------------------------------


def hostile_cases(canary: Path) -> dict[str, list[M]]:
    return {
        "dotdot": [M("../outside/escape", data=b"pwned")],
        "dotdot-inside-name": [M("usr/../../outside/escape", data=b"pwned")],
        "absolute": [M(f"{canary}/escape", data=b"pwned")],
        "absolute-symlink-then-through": [
            M("evil", "symlink", linkname=str(canary)),
            M("evil/escape", data=b"pwned"),
        ],
        "relative-symlink-up-then-through": [
            M("evil", "symlink", linkname="../outside"),
            M("evil/escape", data=b"pwned"),
        ],
        "nested-symlink-up": [
            M("usr/", "dir", mode=0o755),
            M("usr/up", "symlink", linkname="../.."),
            M("usr/up/outside/escape", data=b"pwned"),
        ],
        "symlink-chain": [
            M("a", "symlink", linkname="b/c"),
            M("b", "symlink", linkname="../outside"),
            M("a/escape", data=b"pwned"),
        ],
        "symlink-loop": [
            M("a", "symlink", linkname="b"),
            M("b", "symlink", linkname="a"),
            M("a/escape", data=b"pwned"),
        ],
        "dir-member-over-symlink": [
            M("evil", "symlink", linkname=str(canary)),
            M("evil", "dir", mode=0o777),
        ],
        "file-member-over-symlink": [
            M("evil", "symlink", linkname=f"{canary}/keep"),
            M("evil", data=b"pwned"),
        ],
        "hardlink-dotdot": [M("passwd", "hardlink", linkname="../../etc/passwd")],
        "hardlink-absolute": [M("passwd", "hardlink", linkname=f"{canary}/keep")],
        "hardlink-through-symlink": [
            M("evil", "symlink", linkname=str(canary)),
            M("keep", "hardlink", linkname="evil/keep"),
        ],
        "hardlink-to-symlink-then-through": [
            M("s", "symlink", linkname=str(canary)),
            M("h", "hardlink", linkname="s"),
            M("h/escape", data=b"pwned"),
        ],
        "symlink-replacing-root": [M(".", "symlink", linkname=str(canary))],
    }


@pytest.mark.parametrize("case", sorted(hostile_cases(Path("/x"))))
def test_hostile_tar_is_refused_before_anything_is_written(
    tmp_path: Path, runner: Runner, canary: Path, case: str
) -> None:
    members = hostile_cases(canary)[case]
    archive = make_tar(tmp_path / "hostile.tar.gz", [M("innocent", data=b"ok"), *members])
    target = tmp_path / "target"
    before = snapshot(tmp_path)
    with pytest.raises(UnsafeArchiveError) as info:
        extract_root_image(archive, target, runner)
    error = info.value
    assert error.archive == archive and error.target == target
    assert error.member.rstrip("/") == members[-1].name  # as stored: tarfile adds a /
    assert str(archive) in str(error) and repr(error.member) in str(error)
    assert "nothing was extracted" in str(error)
    assert snapshot(tmp_path) == before  # not even the target or "innocent" was made
    with pytest.raises(UnsafeArchiveError):
        check_archive(archive, target, runner)


# --- archives that do not list cleanly to their end ------------------------------------------
#
# Python's tarfile (which listed the members for the check until this was found) stops without
# a word at a corrupt header; GNU tar, the extractor, says "Skipping to next header" and
# extracts what follows. Whatever was hidden behind such a header was written unchecked.


def _with_checksum(block: bytearray) -> bytes:
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


def _ghost_header(offset: int = 0, value: bytes = b"", fix_checksum: bool = True) -> bytes:
    """The header of an empty file "ghost" with ``value`` written at ``offset``."""
    block = bytearray(tar_blocks([M("ghost")])[-512:])
    block[offset : offset + len(value)] = value
    return _with_checksum(block) if fix_checksum else bytes(block)


CORRUPT_HEADERS = {
    "garbage-block": b"this is not a tar header".ljust(512, b"#"),
    # the name changed after the checksum was computed
    "bad-checksum": _ghost_header(0, b"G", fix_checksum=False),
    # the checksum is right but a number field is not a number
    "bad-size-field": _ghost_header(124, b"zzzzzzzzzzz\0"),
    "bad-mode-field": _ghost_header(100, b"9999999\0"),  # GNU tar extracts "ghost" too
}

# What hides behind the corrupt header; the target holds the symlink evil -> the canary.
HIDDEN = {
    "setuid-file": [M("usr/bin/hidden", data=b"#!/bin/sh\n", mode=0o4755)],
    "through-symlink-in-target": [M("evil/escape", data=b"pwned")],
    "hardlink-through-symlink-in-target": [M("stolen", "hardlink", linkname="evil/keep")],
    "dotdot-path": [M("../outside/escape", data=b"pwned")],
    "absolute-symlink-then-through": [
        M("abs", "symlink", linkname="/"),
        M("abs/tmp/escape", data=b"pwned"),
    ],
}


def _target_with_symlink_out(tmp_path: Path, canary: Path) -> Path:
    target = tmp_path / "target"
    target.mkdir()
    (target / "evil").symlink_to(canary)
    return target


def _compress(runner: Runner, plain: Path, compression: str) -> Path:
    if compression == "":
        return plain
    if compression == "zst":
        if shutil.which("zstd") is None:
            pytest.skip("zstd is not installed")
        runner.run(["zstd", "--quiet", "-o", f"{plain}.zst", plain])
        return Path(f"{plain}.zst")
    archive = Path(f"{plain}.{compression}")
    data = plain.read_bytes()
    packed = {"gz": gzip.compress, "xz": lzma.compress, "bz2": bz2.compress}[compression](data)
    archive.write_bytes(packed)
    return archive


def assert_refused_as_corrupt(
    archive: Path, target: Path, runner: Runner, tmp_path: Path, *said: str
) -> CorruptArchiveError:
    before = snapshot(tmp_path)
    with pytest.raises(CorruptArchiveError) as info:
        extract_root_image(archive, target, runner)
    message = str(info.value)
    assert info.value.archive == archive and str(archive) in message
    assert "cannot be read to its end" in message and "nothing was extracted" in message
    for words in said:
        assert words in message
    assert snapshot(tmp_path) == before  # not even "innocent" was written
    with pytest.raises(CorruptArchiveError):
        check_archive(archive, target, runner)
    return info.value


@pytest.mark.parametrize("corruption", sorted(CORRUPT_HEADERS))
def test_gnu_tar_extracts_what_follows_a_corrupt_header(
    tmp_path: Path, runner: Runner, corruption: str
) -> None:
    """The premise: tarfile lists nothing after the header, GNU tar extracts past it."""
    archive = tmp_path / "root.tar"
    archive.write_bytes(
        tar_blocks([M("innocent", data=b"ok")])
        + CORRUPT_HEADERS[corruption]
        + tar_blocks(HIDDEN["setuid-file"])
        + END
    )
    with tarfile.open(archive) as tar:
        assert tar.getnames() == ["innocent"]
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    result = runner.run(["tar", "-xf", archive, "-C", scratch], check=False)
    assert result.returncode == 2
    hidden = scratch / "usr/bin/hidden"
    assert hidden.read_bytes() == b"#!/bin/sh\n"
    assert hidden.stat().st_mode & stat.S_ISUID


@pytest.mark.parametrize("hidden", sorted(HIDDEN))
@pytest.mark.parametrize("corruption", sorted(CORRUPT_HEADERS))
def test_corrupt_header_in_the_middle_is_refused_before_anything_is_written(
    tmp_path: Path, runner: Runner, canary: Path, corruption: str, hidden: str
) -> None:
    target = _target_with_symlink_out(tmp_path, canary)
    archive = tmp_path / "root.tar"
    archive.write_bytes(
        tar_blocks([M("innocent", data=b"ok")])
        + CORRUPT_HEADERS[corruption]
        + tar_blocks(HIDDEN[hidden])
        + END
    )
    said = "numeric" if "field" in corruption else "Skipping to next header"
    assert_refused_as_corrupt(archive, target, runner, tmp_path, said)


@pytest.mark.parametrize("compression", ["gz", "xz", "bz2", "zst"])
def test_corrupt_header_in_a_compressed_tarball_is_refused(
    tmp_path: Path, runner: Runner, canary: Path, compression: str
) -> None:
    target = _target_with_symlink_out(tmp_path, canary)
    plain = tmp_path / "root.tar"
    plain.write_bytes(
        tar_blocks([M("innocent", data=b"ok")])
        + CORRUPT_HEADERS["garbage-block"]
        + tar_blocks(HIDDEN["through-symlink-in-target"])
        + END
    )
    archive = _compress(runner, plain, compression)
    plain.unlink()
    assert_refused_as_corrupt(archive, target, runner, tmp_path, "Skipping to next header")


def _after_the_end(runner: Runner, tmp_path: Path, variant: str) -> Path:
    innocent = tar_blocks([M("innocent", data=b"ok")])
    hidden = tar_blocks(HIDDEN["through-symlink-in-target"])
    archive = tmp_path / "root.tar"
    if variant == "lone-zero-block":  # tar stops there: "A lone zero block"
        archive.write_bytes(innocent + b"\0" * 512 + hidden + END)
    elif variant == "member-after-end-of-archive":
        archive.write_bytes(innocent + END + hidden + END)
    elif variant == "garbage-after-end-of-archive":
        archive.write_bytes(innocent + END + b"trailing garbage".ljust(512, b"!") + END)
    else:  # two gzip members, the second an archive of its own: gzip -d gives both
        archive = tmp_path / "root.tar.gz"
        archive.write_bytes(gzip.compress(innocent + END) + gzip.compress(hidden + END))
    return archive


@pytest.mark.parametrize(
    "variant",
    [
        "lone-zero-block",
        "member-after-end-of-archive",
        "garbage-after-end-of-archive",
        "concatenated-gzip-archives",
    ],
)
def test_data_after_the_end_of_archive_is_refused(
    tmp_path: Path, runner: Runner, canary: Path, variant: str
) -> None:
    target = _target_with_symlink_out(tmp_path, canary)
    archive = _after_the_end(runner, tmp_path, variant)
    said = "Skipping to next header" if variant.startswith("garbage") else "evil/escape"
    assert_refused_as_corrupt(archive, target, runner, tmp_path, said)


@pytest.mark.parametrize("cut", ["mid-data", "mid-header", "at-a-member-boundary"])
def test_truncated_plain_tar_is_refused(
    tmp_path: Path, runner: Runner, canary: Path, cut: str
) -> None:
    blocks = tar_blocks([M("innocent", data=b"ok"), M("big", data=b"x" * 5000)])
    size = {"mid-data": len(blocks) - 1024, "mid-header": 700, "at-a-member-boundary": 0}[cut]
    archive = tmp_path / "root.tar"
    archive.write_bytes(blocks[:size] if size else blocks)  # the last: no end-of-archive
    said = "end-of-archive marker" if cut == "at-a-member-boundary" else "Unexpected EOF"
    assert_refused_as_corrupt(archive, tmp_path / "target", runner, tmp_path, said)


def test_zeros_after_the_end_of_archive_are_padding(tmp_path: Path, runner: Runner) -> None:
    archive = tmp_path / "root.tar"
    archive.write_bytes(tar_blocks([M("innocent", data=b"ok")]) + END + b"\0" * 65536)
    target = tmp_path / "target"
    assert extract_root_image(archive, target, runner) is ArchiveFormat.TAR
    assert (target / "innocent").read_bytes() == b"ok"


def test_tar_listing_reads_awkward_names_exactly(tmp_path: Path, runner: Runner) -> None:
    awkward = [
        M("./", "dir", mode=0o755),
        M("a -> b", data=b"x"),
        M('q"uote \\ back\nnew\tline\x01\x7f', data=b"x"),
        M("x link to y", data=b"x"),
        M("bad\udcffbyte \u00e9", data=b"x"),
        M("l", "symlink", linkname='t -> "x" link to y'),
        M("h", "hardlink", linkname="a -> b"),
        M("dev", "chardev", device=(1, 3)),
        M("d/", "dir"),
    ]
    archive = make_tar(tmp_path / "root.tar.xz", awkward, "xz")
    members = list_tar_members(archive, ArchiveFormat.TAR_XZ, runner)
    expected = [
        Member(m.name, "file" if m.kind == "chardev" else m.kind, m.linkname) for m in awkward
    ]
    assert members == expected
    assert parse_tar_listing(archive, ArchiveFormat.TAR, "block 0: ** Block of NULs **\n") == []


@pytest.mark.parametrize(
    "listing",
    [
        'block 0: -rw-r--r-- 0/0 1 2024-01-01 00:00 "unterminated\n',
        'block 0: -rw-r--r-- 0/0 1 2024-01-01 00:00 "bad \\q escape"\n',
        'block 0: lrw-r--r-- 0/0 1 2024-01-01 00:00 "symlink without target"\n',
        'block 0: -rw-r--r-- 0/0 1 2024-01-01 00:00 "file" -> "with a target"\n',
        'block 0: hrw-r--r-- 0/0 1 2024-01-01 00:00 "hardlink" -> "wrong arrow"\n',
        '-rw-r--r-- 0/0 1 2024-01-01 00:00 "no block number"\n',
        "block 0: ** End of File **\nblock 1: ** Block of NULs **\n",
    ],
)
def test_a_tar_listing_not_understood_is_refused(tmp_path: Path, listing: str) -> None:
    with pytest.raises(CorruptArchiveError, match="Cannot understand the listing"):
        parse_tar_listing(tmp_path / "a.tar", ArchiveFormat.TAR, listing)


@pytest.mark.root
@requires_root
@pytest.mark.parametrize(
    "member",
    [
        M("tmp/ccache/poison", data=b"pwned"),
        M("./tmp/ccache/", "dir", mode=0o777),
        M("tmp/ccache", "symlink", linkname="/"),
        M("tmp/ccache/l", "symlink", linkname="/"),
        M("stolen", "hardlink", linkname="tmp/ccache/keep"),
        M("tmp/via/poison", data=b"pwned"),  # through the relative symlink tmp/via -> ccache
    ],
    ids=lambda m: f"{m.kind}-{m.name}",
)
def test_members_into_a_mount_point_in_the_target_are_refused(
    tmp_path: Path, runner: Runner, member: M
) -> None:
    """The base element bind-mounts the host's ccache directory at tmp/ccache before the root
    image is unpacked: what lands there is written to the host."""
    host_cache = tmp_path / "host-ccache"
    host_cache.mkdir()
    (host_cache / "keep").write_text("original\n")
    target = tmp_path / "target"
    mounted = target / "tmp/ccache"
    mounted.mkdir(parents=True)
    (target / "tmp/via").symlink_to("ccache")
    archive = make_tar(tmp_path / "root.tar", [M("tmp/fine", data=b"ok"), member], "")
    mounts.mount(runner, host_cache, mounted, bind=True)
    try:
        before = snapshot(host_cache), snapshot(target)
        with pytest.raises(UnsafeArchiveError, match="a mount point in the target") as info:
            extract_root_image(archive, target, runner)
        assert "'tmp/ccache'" in str(info.value)
        assert (snapshot(host_cache), snapshot(target)) == before
        # The same archive without the member is fine.
        fine = make_tar(tmp_path / "fine.tar", [M("tmp/fine", data=b"ok")], "")
        extract_root_image(fine, target, runner)
        assert (target / "tmp/fine").read_bytes() == b"ok"
    finally:
        mounts.unmount(runner, mounted)
    assert snapshot(host_cache) == {"keep": before[0]["keep"]}


@pytest.mark.parametrize("kind", ["intermediate", "last"])
def test_symlink_already_in_target_is_not_written_through(
    tmp_path: Path, runner: Runner, canary: Path, kind: str
) -> None:
    target = tmp_path / "target"
    target.mkdir()
    (target / "evil").symlink_to(canary)
    (target / "passwd").symlink_to(canary / "keep")
    member = M("evil/escape", data=b"pwned") if kind == "intermediate" else M("passwd", data=b"x")
    archive = make_tar(tmp_path / "root.tar", [member], compression="")
    before = snapshot(tmp_path)
    with pytest.raises(UnsafeArchiveError, match="from the existing target directory"):
        extract_root_image(archive, target, runner)
    assert snapshot(tmp_path) == before


def test_check_accepts_a_merged_usr_root_listing(tmp_path: Path) -> None:
    members = [
        Member(".", "dir"),
        Member("./usr", "dir"),
        Member("./usr/bin", "dir"),
        Member("./usr/lib", "dir"),
        Member("./bin", "symlink", "usr/bin"),
        Member("./lib", "symlink", "usr/lib"),
        Member("./etc/os-release", "symlink", "../usr/lib/os-release"),
        Member("./etc/mtab", "symlink", "/proc/self/mounts"),
        Member("./etc/localtime", "symlink", "/usr/share/zoneinfo/UTC"),
        Member("./etc/alternatives/editor", "symlink", "/usr/bin/vim.basic"),
        Member("./usr/bin/editor", "symlink", "/etc/alternatives/editor"),
        Member("./bin/sh", "file"),  # through a relative symlink, lands in usr/bin
        Member("./lib/deep/../../lib/x", "file"),
        Member("./usr/bin/sh2", "hardlink", "bin/sh"),
        Member("./etc/resolv.conf", "symlink", "../run/systemd/resolve/stub-resolv.conf"),
        Member("./usr/lib/modules", "dir"),
    ]
    # ".." inside a member name is refused even when it would stay inside.
    with pytest.raises(UnsafeArchiveError, match="'\\.\\.' component"):
        check_members(tmp_path / "a.tar", tmp_path / "t", members)
    del members[12]
    check_members(tmp_path / "a.tar", tmp_path / "t", members)


# --- real extraction -------------------------------------------------------------------------


def xattrs_supported(where: Path) -> bool:
    probe = where / "xattr-probe"
    probe.write_bytes(b"")
    try:
        os.setxattr(probe, "user.dibpy", b"1")
        os.setxattr(probe, "security.capability", CAPABILITY)
    except OSError:
        return False
    finally:
        probe.unlink()
    return True


def assert_root_metadata(target: Path) -> None:
    """What both metadata tests build: check it all survived."""
    tool = target / "usr/bin/tool"
    st = tool.lstat()
    assert (st.st_uid, st.st_gid) == (UID, GID)
    assert stat.S_IMODE(st.st_mode) == 0o4755
    assert st.st_mtime == MTIME
    assert tool.read_bytes() == b"#!/bin/true\n"
    assert os.getxattr(tool, "user.dibpy") == b"1"
    assert os.getxattr(tool, "security.capability") == CAPABILITY
    assert (target / "usr/bin/tool-link").lstat().st_ino == st.st_ino
    null = (target / "dev/null").lstat()
    assert stat.S_ISCHR(null.st_mode)
    assert (os.major(null.st_rdev), os.minor(null.st_rdev)) == (1, 3)
    assert os.readlink(target / "bin") == "usr/bin"
    assert os.readlink(target / "etc/localtime") == "/usr/share/zoneinfo/UTC"
    assert (target / "usr").lstat().st_mtime == MTIME


@pytest.mark.root
@requires_root
@pytest.mark.parametrize(
    ("compression", "expected"),
    [
        ("gz", ArchiveFormat.TAR_GZ),
        ("xz", ArchiveFormat.TAR_XZ),
        ("bz2", ArchiveFormat.TAR_BZ2),
        ("", ArchiveFormat.TAR),
        ("zst", ArchiveFormat.TAR_ZST),
    ],
)
def test_tar_keeps_owners_modes_devices_links_xattrs_times(
    tmp_path: Path, runner: Runner, compression: str, expected: ArchiveFormat
) -> None:
    if not xattrs_supported(tmp_path):
        pytest.skip(f"{tmp_path} does not support user.* and security.* xattrs")
    members = [
        M("./", "dir", mode=0o755),
        M("./usr/", "dir", mode=0o755),
        M("./usr/bin/", "dir", mode=0o755),
        M(
            "./usr/bin/tool",
            data=b"#!/bin/true\n",
            mode=0o4755,
            uid=UID,
            gid=GID,
            xattrs={"user.dibpy": b"1", "security.capability": CAPABILITY},
        ),
        M("./usr/bin/tool-link", "hardlink", linkname="./usr/bin/tool", uid=UID, gid=GID),
        M("./dev/", "dir", mode=0o755),
        M("./dev/null", "chardev", mode=0o666, device=(1, 3)),
        M("./bin", "symlink", linkname="usr/bin"),
        M("./etc/", "dir", mode=0o755),
        M("./etc/localtime", "symlink", linkname="/usr/share/zoneinfo/UTC"),
    ]
    if compression == "zst":
        if shutil.which("zstd") is None:
            pytest.skip("zstd is not installed")
        plain = make_tar(tmp_path / "root.tar", members, compression="")
        archive = tmp_path / "root.tar.zst"
        runner.run(["zstd", "--quiet", "-o", archive, plain])
    else:
        archive = make_tar(tmp_path / "root.tar.x", members, compression)
    target = tmp_path / "target"
    assert extract_root_image(archive, target, runner) is expected
    assert_root_metadata(target)


@needs_squashfs
@pytest.mark.root
@requires_root
def test_squashfs_keeps_owners_modes_devices_links_xattrs_times(
    tmp_path: Path, runner: Runner
) -> None:
    if not xattrs_supported(tmp_path):
        pytest.skip(f"{tmp_path} does not support user.* and security.* xattrs")
    src = tmp_path / "src"
    (src / "usr/bin").mkdir(parents=True)
    (src / "dev").mkdir()
    (src / "etc").mkdir()
    tool = src / "usr/bin/tool"
    tool.write_bytes(b"#!/bin/true\n")
    os.chown(tool, UID, GID)
    tool.chmod(0o4755)  # after chown, which clears setuid
    os.setxattr(tool, "user.dibpy", b"1")
    os.setxattr(tool, "security.capability", CAPABILITY)
    os.link(tool, src / "usr/bin/tool-link")
    os.mknod(src / "dev/null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    (src / "bin").symlink_to("usr/bin")
    (src / "etc/localtime").symlink_to("/usr/share/zoneinfo/UTC")
    for path in (tool, src / "usr"):
        os.utime(path, (MTIME, MTIME))
    image = mksquashfs(runner, src, tmp_path / "image.bin")
    target = tmp_path / "target"
    target.mkdir()  # an existing target is fine (unsquashfs -f)
    assert extract_root_image(image, target, runner) is ArchiveFormat.SQUASHFS
    assert_root_metadata(target)


@needs_squashfs
@pytest.mark.parametrize("kind", ["intermediate", "last"])
def test_squashfs_not_written_through_symlink_in_target(
    tmp_path: Path, runner: Runner, canary: Path, kind: str
) -> None:
    src = tmp_path / "src"
    (src / "evil").mkdir(parents=True)
    (src / "evil/escape").write_text("pwned")
    (src / "passwd").write_text("pwned")
    image = mksquashfs(runner, src, tmp_path / "image.squashfs")
    target = tmp_path / "target"
    target.mkdir()
    if kind == "intermediate":
        (target / "evil").symlink_to(canary)
    else:
        (target / "passwd").symlink_to(canary / "keep")
    before = snapshot(tmp_path)
    with pytest.raises(UnsafeArchiveError, match="existing target directory"):
        extract_root_image(image, target, runner)
    assert snapshot(tmp_path) == before


@needs_squashfs
def test_squashfs_listing_with_awkward_names(tmp_path: Path, runner: Runner) -> None:
    src = tmp_path / "src"
    (src / "dir with space").mkdir(parents=True)
    (src / "dir with space/a -> b").write_text("x")
    (src / "new\nline").write_text("x")
    (src / "link -> odd").symlink_to("target -> with arrow")
    (src / "bin").symlink_to("usr/bin")
    image = mksquashfs(runner, src, tmp_path / "image.squashfs")
    prefix = "listing-prefix"
    listing = runner.run(["unsquashfs", "-lln", "-d", prefix, image], capture=True).stdout
    members = {m.name: m for m in parse_squashfs_listing(image, listing, prefix)}
    assert set(members) == {
        ".",
        "bin",
        "dir with space",
        "dir with space/a -> b",
        "link -> odd",
        "new\nline",
    }
    assert members["link -> odd"] == Member("link -> odd", "symlink", "target -> with arrow")
    assert members["bin"].linkname == "usr/bin"
    assert members["dir with space"].kind == "dir"
    assert members["new\nline"].kind == "file"
    assert check_archive(image, tmp_path / "target", runner) is ArchiveFormat.SQUASHFS


def test_squashfs_duplicate_names_are_refused(tmp_path: Path) -> None:
    listing = (
        "drwxr-xr-x 0/0 3 2024-01-01 00:00 P\n"
        "lrwxrwxrwx 0/0 4 2024-01-01 00:00 P/evil -> /etc\n"
        "drwxr-xr-x 0/0 3 2024-01-01 00:00 P/evil\n"
        "-rw-r--r-- 0/0 3 2024-01-01 00:00 P/evil/passwd\n"
    )
    members = parse_squashfs_listing(tmp_path / "i", listing, "P")
    assert [m.kind for m in members] == ["dir", "symlink", "dir", "file"]
    with pytest.raises(UnsafeArchiveError, match="through the symlink 'evil'"):
        check_members(tmp_path / "i", tmp_path / "t", members)


@needs_squashfs
def test_damaged_squashfs_is_refused_as_corrupt(tmp_path: Path, runner: Runner) -> None:
    image = tmp_path / "image.squashfs"
    image.write_bytes(b"hsqs" + os.urandom(2000))
    with pytest.raises(CorruptArchiveError, match="cannot be read to its end") as info:
        extract_root_image(image, tmp_path / "target", runner)
    assert str(image) in str(info.value) and "superblock" in str(info.value)
    assert not (tmp_path / "target").exists()


@pytest.mark.root
@requires_root
def test_merged_usr_root_extracts_and_reextracts(
    tmp_path: Path, runner: Runner, canary: Path
) -> None:
    members = [
        M("./", "dir", mode=0o755),
        M("./usr/", "dir", mode=0o755),
        M("./usr/bin/", "dir", mode=0o755),
        M("./usr/lib/", "dir", mode=0o755),
        M("./usr/lib64/", "dir", mode=0o755),
        M("./bin", "symlink", linkname="usr/bin"),
        M("./lib", "symlink", linkname="usr/lib"),
        M("./lib64", "symlink", linkname="usr/lib64"),
        M("./usr/lib/os-release", data=b"ID=debian\n"),
        M("./etc/", "dir", mode=0o755),
        M("./etc/os-release", "symlink", linkname="../usr/lib/os-release"),
        M("./etc/localtime", "symlink", linkname="/usr/share/zoneinfo/UTC"),
        M("./etc/mtab", "symlink", linkname="/proc/self/mounts"),
        M("./etc/resolv.conf", "symlink", linkname="../run/systemd/resolve/stub-resolv.conf"),
        M("./etc/alternatives/", "dir", mode=0o755),
        M("./etc/alternatives/editor", "symlink", linkname="/usr/bin/vim.basic"),
        M("./usr/bin/editor", "symlink", linkname="/etc/alternatives/editor"),
        M("./bin/sh", data=b"#!/bin/true\n", mode=0o755),  # written through bin -> usr/bin
        M("./lib64/ld-linux-x86-64.so.2", data=b"ld", mode=0o755),
    ]
    archive = make_tar(tmp_path / "root.tar.xz", members, "xz")
    target = tmp_path / "target"
    outside_before = snapshot(canary)
    for _ in range(2):  # the second time into the populated target
        extract_root_image(archive, target, runner)
        assert (target / "usr/bin/sh").read_bytes() == b"#!/bin/true\n"
        assert (target / "usr/lib64/ld-linux-x86-64.so.2").is_file()
        assert (target / "etc/os-release").read_text() == "ID=debian\n"
        assert os.readlink(target / "etc/localtime") == "/usr/share/zoneinfo/UTC"
        assert os.readlink(target / "etc/mtab") == "/proc/self/mounts"
        assert os.readlink(target / "usr/bin/editor") == "/etc/alternatives/editor"
        assert os.readlink(target / "lib") == "usr/lib"
    assert snapshot(canary) == outside_before


@pytest.mark.root
@requires_root
def test_tar_failure_is_a_command_error(tmp_path: Path, runner: Runner) -> None:
    archive = make_tar(tmp_path / "root.tar.gz", [M("b", "hardlink", linkname="missing")])
    with pytest.raises(CommandError) as info:
        extract_root_image(archive, tmp_path / "target", runner)
    assert info.value.argv[0] == "tar"
