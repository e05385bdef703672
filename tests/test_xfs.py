"""XFS file systems made from a tree with ``mkfs.xfs -p`` (dibpy.blockdev.xfs): real disks,
checked with xfs_repair, xfs_db and blkid; no mount, no loop device."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from dibpy.blockdev.disk import DiskError, assemble_disk
from dibpy.blockdev.model import DiskLayout, Filesystem, MiB, Partition
from dibpy.blockdev.xfs import ProtofileError, protofile
from dibpy.host.run import Runner

pytestmark = pytest.mark.skipif(shutil.which("mkfs.xfs") is None, reason="needs xfsprogs")

ROOT_UUID = "0b2c6a56-3f8d-4d3e-9a55-1f2e3d4c5b6a"
DISK = 400 * MiB  # mkfs.xfs wants at least 300 MB
IS_ROOT = os.geteuid() == 0


def make_tree(tree: Path) -> None:
    """What a root tree holds, minus extended attributes (refused, see below)."""
    (tree / "etc").mkdir(parents=True)
    (tree / "etc/hostname").write_text("synthetic\n")
    (tree / "usr/bin").mkdir(parents=True)
    tool = tree / "usr/bin/tool"
    tool.write_text("#!/bin/sh\necho hi\n")
    os.link(tool, tree / "usr/bin/tool-link")
    os.symlink("/usr/bin/tool", tree / "usr/bin/tool-symlink")
    (tree / "tmp").mkdir()
    (tree / "tmp").chmod(0o1777)
    if IS_ROOT:
        os.chown(tool, 1234, 5678)
        (tree / "dev").mkdir()
        os.mknod(tree / "dev/null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        os.chmod(tree / "dev/null", 0o666)  # past the umask
    tool.chmod(0o4751)


def xfs_layout() -> DiskLayout:
    fs = Filesystem("xfs", "img-rootfs", ROOT_UUID, "/", fsck_passno=1)
    return DiskLayout(
        "image0", DISK, "mbr", (Partition("root", 1, MiB, DISK - MiB, "0x83", True, fs),)
    )


def xfs_db(image: Path, *commands: str) -> str:
    argv = ["xfs_db", "-r"]
    for command in commands:
        argv += ["-c", command]
    return subprocess.run([*argv, str(image)], capture_output=True, text=True, check=True).stdout


def extract_partition(image: Path, dest: Path) -> Path:
    with open(image, "rb") as src, open(dest, "wb") as out:
        src.seek(MiB)
        shutil.copyfileobj(src, out)
    return dest


def test_protofile_lists_the_tree(tmp_path: Path) -> None:
    tree = tmp_path / "root"
    make_tree(tree)
    text, sticky = protofile(tree)
    lines = text.splitlines()
    assert lines[:2] == ["dibpy", "0 0"]
    assert f" tool -u-751 {1234 if IS_ROOT else os.getuid()} " in text
    assert "tool-link -u-751 " in text  # a hard link becomes a copy
    assert any(
        line.strip().startswith("tool-symlink l--777") and line.endswith(" /usr/bin/tool")
        for line in lines
    )
    assert lines[-1] == "$"
    assert sticky == [("/tmp", stat.S_IFDIR | 0o1777)]


def test_xfs_root_partition_holds_the_tree(tmp_path: Path) -> None:
    tree = tmp_path / "root"
    make_tree(tree)
    image = tmp_path / "disk.raw"
    assemble_disk(xfs_layout(), tree, image, Runner())
    assert image.stat().st_blocks * 512 < DISK // 4  # still sparse
    part = extract_partition(image, tmp_path / "root.xfs")
    subprocess.run(["xfs_repair", "-n", str(part)], check=True, capture_output=True)
    blkid = subprocess.run(
        ["blkid", "-o", "export", str(part)], capture_output=True, text=True, check=True
    ).stdout
    assert "TYPE=xfs" in blkid and "LABEL=img-rootfs" in blkid and f"UUID={ROOT_UUID}" in blkid
    assert "core.mode = 041777" in xfs_db(part, "path /tmp", "print core.mode")
    tool = xfs_db(part, "path /usr/bin/tool", "print core.mode core.uid core.gid core.size")
    assert "core.mode = 0104751" in tool
    assert "core.size = 18" in tool
    if IS_ROOT:
        assert "core.uid = 1234" in tool and "core.gid = 5678" in tool
        assert "core.mode = 020666" in xfs_db(part, "path /dev/null", "print core.mode")
    assert "tool-symlink" in xfs_db(part, "ls /usr/bin")
    assert "core.size = 10" in xfs_db(part, "path /etc/hostname", "print core.size")


def test_extended_attributes_are_refused_naming_the_file(tmp_path: Path) -> None:
    tree = tmp_path / "root"
    make_tree(tree)
    os.setxattr(tree / "etc/hostname", "user.dibpy", b"would be lost")
    image = tmp_path / "disk.raw"
    with pytest.raises(
        ProtofileError, match=r"etc/hostname has extended attributes \(user.dibpy\)"
    ):
        assemble_disk(xfs_layout(), tree, image, Runner())
    assert not image.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["root"]


def test_a_name_with_a_space_is_refused(tmp_path: Path) -> None:
    tree = tmp_path / "root"
    make_tree(tree)
    (tree / "etc/two words").write_text("x")
    with pytest.raises(ProtofileError, match=r"'two words'.*white space"):
        protofile(tree)


def test_too_small_for_xfs_is_a_clear_error(tmp_path: Path) -> None:
    tree = tmp_path / "root"
    make_tree(tree)
    fs = Filesystem("xfs", "img-rootfs", ROOT_UUID, "/")
    layout = DiskLayout(
        "image0", 64 * MiB, "mbr", (Partition("root", 1, MiB, 63 * MiB, "0x83", True, fs),)
    )
    with pytest.raises(DiskError, match="xfs file system img-rootfs"):
        assemble_disk(layout, tree, tmp_path / "disk.raw", Runner())
    assert not (tmp_path / "disk.raw").exists()
