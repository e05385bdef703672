"""dibpy.tree.diff, the comparison engine of `dibpy diff`: on real directories and on the tar
archives `tar` makes of them (as `dibpy build -t tar` does)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dibpy.errors import InputError
from dibpy.tree.diff import Allowance, compare, read_tree

IS_ROOT = os.geteuid() == 0


def make_tree(root: Path) -> Path:
    (root / "etc/sub").mkdir(parents=True)
    (root / "etc/hostname").write_text("box\n")
    (root / "etc/sub/.hidden").write_text("dot\n")
    (root / "etc/secret").write_text("s\n")
    (root / "etc/secret").chmod(0o600)
    (root / "bin").mkdir()
    (root / "bin/tool").write_text("#!/bin/sh\n")
    (root / "bin/tool").chmod(0o4755)
    os.link(root / "bin/tool", root / "bin/tool-again")
    (root / "etc/link").symlink_to("/etc/hostname")
    if IS_ROOT:
        os.chown(root / "etc/secret", 1000, 1001)
        os.mknod(root / "null", 0o666 | 0o020000, os.makedev(1, 3))
    return root


def tar_of(root: Path, archive: Path) -> Path:
    subprocess.run(
        ["tar", "--numeric-owner", "-C", str(root), "-cf", str(archive), "."], check=True
    )
    return archive


def test_a_directory_and_its_tar_are_equal(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "root")
    tree, archived = read_tree(root), read_tree(tar_of(root, tmp_path / "t.tar"))
    assert tree == archived
    assert tree["/etc/sub/.hidden"].type == "file"
    assert tree["/bin/tool"].mode == 0o4755
    assert tree["/bin/tool-again"].sha256 == tree["/bin/tool"].sha256
    assert tree["/etc/link"].target == "/etc/hostname"
    if IS_ROOT:
        assert tree["/etc/secret"].uid == 1000 and tree["/etc/secret"].gid == 1001
        assert tree["/null"].device == "1,3"
    assert compare(root, tmp_path / "t.tar").equal


def test_every_kind_of_difference_is_found(tmp_path: Path) -> None:
    left = make_tree(tmp_path / "left")
    right = make_tree(tmp_path / "right")
    (right / "etc/hostname").write_text("other\n")
    (right / "etc/secret").chmod(0o644)
    (right / "etc/link").unlink()
    (right / "etc/link").symlink_to("/elsewhere")
    (right / "etc/new").write_text("n\n")
    (left / "bin/tool-again").unlink()
    result = compare(left, right)
    found = {d.path: (d.kind, d.changed) for d in result.differences}
    assert found == {
        "/etc/hostname": ("changed", ("sha256",)),
        "/etc/secret": ("changed", ("mode",)),
        "/etc/link": ("changed", ("target",)),
        "/etc/new": ("only-right", ()),
        "/bin/tool-again": ("only-right", ()),
    }
    assert not result.equal
    report = result.report()
    assert "/etc/secret: mode 0600 != 0644" in report
    assert "5 unexpected differences" in report


def test_allowances_cover_only_what_they_name(tmp_path: Path) -> None:
    left = make_tree(tmp_path / "left")
    right = make_tree(tmp_path / "right")
    (right / "etc/hostname").write_text("other\n")
    (right / "etc/hostname").chmod(0o600)
    (right / "etc/machine-id").write_text("x\n")
    content_only = Allowance("/etc/hostname", "each build names itself", ("sha256",))
    machine_id = Allowance("/etc/machine-id", "systemd makes it on first boot")
    result = compare(left, right, [content_only, machine_id])
    assert [d.path for d in result.unexpected] == ["/etc/hostname"]  # the mode is not allowed
    (right / "etc/hostname").chmod(0o644)
    result = compare(left, right, [content_only, machine_id])
    assert result.equal
    assert "[allowed: systemd makes it on first boot]" in result.report(show_allowed=True)
    assert result.to_dict()["equal"] is True


def test_something_that_is_not_a_tree_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello\n")
    with pytest.raises(InputError, match="neither a directory nor a tar archive"):
        read_tree(tmp_path / "notes.txt")
    with pytest.raises(InputError):
        read_tree(tmp_path / "missing")


def test_dibpy_diff_exits_0_when_equal_1_when_not_2_on_bad_input(tmp_path: Path) -> None:
    left = make_tree(tmp_path / "left")
    right = make_tree(tmp_path / "right")
    tar = tar_of(right, tmp_path / "right.tar")

    def diff(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dibpy", "diff", *args], capture_output=True, text=True
        )

    same = diff(str(left), str(tar))
    assert same.returncode == 0, same.stderr
    assert "0 unexpected differences" in same.stdout
    (right / "etc/hostname").write_text("changed\n")
    changed = diff(str(left), str(right))
    assert changed.returncode == 1
    assert "/etc/hostname: sha256" in changed.stdout
    allowed = diff(str(left), str(right), "--allow", "/etc/host*=sha256", "--json")
    assert allowed.returncode == 0
    assert json.loads(allowed.stdout)["differences"][0]["allowed_by"] == "--allow /etc/host*=sha256"
    bad = diff(str(left), str(right), "--allow", "/etc/hostname=colour")
    assert bad.returncode == 2 and "the fields are" in bad.stderr and "Traceback" not in bad.stderr
