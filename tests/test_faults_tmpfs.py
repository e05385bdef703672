"""The default build directory, a tmpfs in memory, fills up.

By default the build directory is a tmpfs of its own, as in DIB, as big as half the memory:
a build that fits on disk may not fit there. These tests build tiny-busybox in that tmpfs,
made small with ``DIBPY_TMPFS_SIZE`` (``DIB_MIN_TMPFS=0`` so that any machine uses one), and
fill it: from a command in the chroot, from a hook's Python, and with the disk image made
beside the tree. The error keeps the failing hook or command and "No space left on device",
and adds what filled up and what to do: build on disk (``--no-tmpfs``) or give it more
memory. Afterwards, as in every fault test (``tests/test_faults.py``): exit 1, one error
paragraph and no traceback, nothing mounted (the tmpfs neither), no build directory, no
output, whole or partial, and the next build succeeds.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import build_dirs, clean_env, make_element, needs_root
from test_faults import (
    BODIES,
    BULKY,
    argv,
    assert_left_as_it_was,
    assert_next_build_succeeds,
    error_of,
    losetup,
    tmpfs_at,
    write_faulty,
)

from dibpy.config.model import BuildConfig
from dibpy.errors import SettingsError

needs_busybox = pytest.mark.skipif(
    not Path("/bin/busybox").is_file(), reason="needs busybox-static"
)

WRITES_FROM_PYTHON = '(ctx.target_root / "fill").write_bytes(bytes(64 << 20))'

FULL = "is a tmpfs in memory, {size} (DIBPY_TMPFS_SIZE={option}), and it is full"
ADVICE = (
    "build on disk with --no-tmpfs (DIB_NO_TMPFS=1), or give the tmpfs more memory "
    "(a bigger DIBPY_TMPFS_SIZE, or a machine with more RAM)."
)


def run_build(base: Path, elements: Path, env: dict[str, str], *names: str, fmt: str) -> str:
    """Build, expect the failure of a build and return its one error paragraph."""
    done = subprocess.run(
        argv(base, elements, "tiny-busybox", *names, fmt=fmt),
        cwd=base,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    return error_of(done.stderr)


@pytest.mark.root
@needs_root
@needs_busybox
@pytest.mark.parametrize(
    ("phase", "body", "failed"),
    [
        ("install", BODIES["fills-the-disk"], "/bin/busybox dd if=/dev/zero of=/fill"),
        ("root", WRITES_FROM_PYTHON, "[Errno 28] No space left on device"),
    ],
    ids=["a-command-in-the-chroot", "a-python-hook"],
)
def test_the_default_tmpfs_fills_up(tmp_path: Path, phase: str, body: str, failed: str) -> None:
    loops = losetup()
    elements = write_faulty(tmp_path, phase, body)
    env = clean_env(tmp_path, DIB_MIN_TMPFS="0", DIBPY_TMPFS_SIZE="8m")
    error = run_build(tmp_path, elements, env, "faulty", fmt="tar")
    assert f"The {phase} phase failed in hook 'fault' of element 'faulty'" in error
    assert failed in error
    assert "No space left on device" in error
    assert "The build directory " + str(tmp_path / "tmp" / "dibpy_build.") in error
    assert FULL.format(size="8 MiB", option="8m") + ": " + ADVICE in error, error
    assert_left_as_it_was(tmp_path, tmp_path / "tmp", loops)
    assert not (tmp_path / "out.tar").exists()
    assert_next_build_succeeds(tmp_path, env)


@pytest.mark.root
@needs_root
@needs_busybox
def test_the_disk_image_does_not_fit_in_the_default_tmpfs(tmp_path: Path) -> None:
    """No hook at fault: the 16 MiB tree fits in a 24 MiB tmpfs, the raw disk does not.
    The disk writer removes the image it could not finish, so the tmpfs has room again when
    the error is reported: the advice says how much, and that the tmpfs may be what filled
    up."""
    loops = losetup()
    elements = tmp_path / "elements"
    make_element(elements, "bulky", BULKY)
    env = clean_env(tmp_path, DIB_MIN_TMPFS="0", DIBPY_TMPFS_SIZE="24m")
    error = run_build(tmp_path, elements, env, "bulky", fmt="raw")
    assert "No space left on device" in error
    assert "is a tmpfs in memory, 24 MiB (DIBPY_TMPFS_SIZE=24m), " in error, error
    assert "free now; if it is what filled up, " + ADVICE in error
    assert_left_as_it_was(tmp_path, tmp_path / "tmp", loops)
    assert_next_build_succeeds(tmp_path, env)


@pytest.fixture
def full_elsewhere(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs outside the build: the file system that fills up instead."""
    with tmpfs_at(tmp_path / "small", "1m") as where:
        yield where


@pytest.mark.root
@needs_root
@needs_busybox
def test_a_full_file_system_elsewhere_is_not_blamed_on_the_tmpfs(
    tmp_path: Path, full_elsewhere: Path
) -> None:
    """The hook fills another file system; the build's tmpfs (half the memory, tmpfs's
    default) has room: the message says how much, and only that it may be the cause."""
    loops = losetup()
    target = full_elsewhere / "fill"
    elements = write_faulty(
        tmp_path, "install", f"open({str(target)!r}, 'wb').write(bytes(4 << 20))"
    )
    env = clean_env(tmp_path, DIB_MIN_TMPFS="0")
    error = run_build(tmp_path, elements, env, "faulty", fmt="tar")
    assert "No space left on device" in error
    assert "(half the memory), " in error
    assert "free now; if it is what filled up, " + ADVICE in error, error
    assert "and it is full" not in error
    assert_left_as_it_was(tmp_path, tmp_path / "tmp", loops)
    assert build_dirs(tmp_path / "tmp") == []


@pytest.mark.parametrize("value", ["8m", "4G", "1048576", "75%"])
def test_dibpy_tmpfs_size_takes_what_mount_takes(value: str) -> None:
    config = BuildConfig.from_environment({"DIBPY_TMPFS_SIZE": value}, elements=("x",))
    assert config.tmpfs_size == value


@pytest.mark.parametrize("value", ["0", "lots", "8 MiB", "-1m", "8m,nr_inodes=0", "50%%"])
def test_dibpy_tmpfs_size_refuses_anything_else(value: str) -> None:
    with pytest.raises(SettingsError, match=r"DIBPY_TMPFS_SIZE=.* is not a tmpfs size"):
        BuildConfig.from_environment({"DIBPY_TMPFS_SIZE": value}, elements=("x",))
