"""Bad input through the real command (``python -m dibpy build ...``): exit code 2, one
paragraph naming the problem, no traceback, and nothing left behind (no build directory in
TMP_DIR, nothing mounted, no output, no partial output).

test_cli.py runs most of the resolver's and config's errors in-process; this file covers the
rest of issue 5's list as a user meets them, from a separate process: element modules that do
not import or declare hooks wrongly, block-device configs that are wrong, malformed DIB_*
values, an output directory on a read-only file system, and a host program that is missing.
None of these builds anything; the read-only output directory needs root to mount.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import EXAMPLES, IS_ROOT, build_dirs, clean_env, make_element, run_dibpy
from test_cli import assert_mentions, assert_one_error_paragraph

from dibpy.host import tools as hosttools

TINY = ["build", "-n", "--element-path", str(EXAMPLES), "-o", "out"]

# An element file's text, and what the error must say ({path} is the element file).
ELEMENT_CASES: dict[str, tuple[str, list[str]]] = {
    "syntax-error": ('"""Broken."""\ndef oops(:\n    pass\n', ["syntax error", "{path}:2"]),
    "import-error": (
        '"""Needs a module."""\nimport os\nimport no_such_module_for_dibpy\n',
        ["{path}:3", "no_such_module_for_dibpy"],
    ),
    "wrong-signature": (
        "from dibpy import install_hook\n\n@install_hook(order=10)\ndef go():\n    pass\n",
        ["{path}:3", "go", "exactly one argument"],
    ),
    "order-too-big": (
        "from dibpy import install_hook\n\n@install_hook(order=100)\ndef go(ctx):\n    pass\n",
        ["{path}:3", "99"],
    ),
    "order-negative": (
        "from dibpy import install_hook\n\n@install_hook(order=-1)\ndef go(ctx):\n    pass\n",
        ["{path}:3", "99"],
    ),
    "same-hook-name": (
        "from dibpy import install_hook\n\n@install_hook(order=10)\ndef go(ctx):\n    pass\n"
        "\n\n@install_hook(order=20)\ndef go(ctx):\n    pass\n",
        ["{path}:3", "go"],
    ),
    "bad-metadata": ('"""Bad."""\nDEPENDS = "tiny-busybox"\n', ["DEPENDS", "{path}"]),
    "bad-host-tools": ('"""Bad."""\nHOST_TOOLS = "debootstrap"\n', ["HOST_TOOLS", "'bad'"]),
}


def assert_refused(done: subprocess.CompletedProcess[str], base: Path, texts: list[str]) -> None:
    """Exit 2, one error paragraph mentioning ``texts``, and nothing left behind."""
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert done.stdout == ""
    assert_one_error_paragraph(done.stderr)
    assert_mentions(done.stderr, texts)
    assert_nothing_left(base)


def assert_nothing_left(base: Path) -> None:
    assert build_dirs(base / "tmp") == []
    assert [line for line in mountinfo() if str(base) in line] == []
    assert [p.name for p in base.glob("out.*")] == []
    assert [p.name for p in base.glob(".out.*")] == []


def mountinfo() -> list[str]:
    return Path("/proc/self/mountinfo").read_text().splitlines()


@pytest.mark.parametrize("case", list(ELEMENT_CASES))
def test_a_broken_element_is_refused(tmp_path: Path, case: str) -> None:
    text, expected = ELEMENT_CASES[case]
    elements = tmp_path / "elements"
    path = make_element(elements, "bad", text)
    argv = [*TINY, "-t", "tar", "--element-path", str(elements), "tiny-busybox", "bad"]
    done = run_dibpy(argv, clean_env(tmp_path), tmp_path)
    assert_refused(done, tmp_path, [t.replace("{path}", str(path)) for t in expected])


# --- resolution, formats, architectures: the build command (plan is in test_cli.py) -----

RESOLUTION_CASES: dict[str, tuple[list[str], list[str]]] = {
    "unknown-element": (
        [*TINY, "-t", "tar", "tiny-busybx"],
        ["'tiny-busybx'", "Did you mean 'tiny-busybox'"],
    ),
    "no-os": ([*TINY, "-t", "tar", "install-bin"], ["operating-system"]),
    "two-oses": ([*TINY, "-t", "tar", "tiny-busybox", "ubuntu"], ["'tiny-busybox'", "'ubuntu'"]),
    "unknown-format": ([*TINY, "-t", "floppy", "tiny-busybox"], ["floppy", "qcow2"]),
    "unknown-arch": ([*TINY, "-t", "tar", "-a", "sparc", "tiny-busybox"], ["'sparc'", "amd64"]),
}


@pytest.mark.parametrize("case", list(RESOLUTION_CASES))
def test_bad_element_sets_formats_and_arches_are_refused(tmp_path: Path, case: str) -> None:
    argv, expected = RESOLUTION_CASES[case]
    done = run_dibpy(argv, clean_env(tmp_path), tmp_path)
    assert_refused(done, tmp_path, expected)


# --- malformed DIB_* values -------------------------------------------------------------

SETTING_CASES: dict[str, tuple[dict[str, str], list[str]]] = {
    "image-size-not-a-number": ({"DIB_IMAGE_SIZE": "big"}, ["DIB_IMAGE_SIZE='big'"]),
    "image-size-negative": ({"DIB_IMAGE_SIZE": "-2"}, ["DIB_IMAGE_SIZE='-2'"]),
    "extra-size-not-a-number": (
        {"DIB_IMAGE_EXTRA_SIZE": "1.5x"},
        ["DIB_IMAGE_EXTRA_SIZE='1.5x'"],
    ),
    "debug-trace": ({"DIB_DEBUG_TRACE": "-1"}, ["DIB_DEBUG_TRACE='-1'"]),
    "offline": ({"DIB_OFFLINE": "maybe"}, ["DIB_OFFLINE", "maybe"]),
    "element-int-setting": ({"TINY_UID": "root"}, ["TINY_UID='root'", "'tiny-busybox'"]),
    "arch-variable": ({"ARCH": "vax"}, ["'vax'"]),
}


@pytest.mark.parametrize("case", list(SETTING_CASES))
def test_malformed_settings_are_refused(tmp_path: Path, case: str) -> None:
    env, expected = SETTING_CASES[case]
    done = run_dibpy([*TINY, "-t", "raw", "tiny-busybox"], clean_env(tmp_path, **env), tmp_path)
    assert_refused(done, tmp_path, expected)


# --- block-device configs ---------------------------------------------------------------

BLOCK_DEVICE_CASES: dict[str, tuple[str, list[str]]] = {
    "not-yaml": ("- local_loop: [name: image0\n", ["not valid YAML", "line"]),
    "unknown-key": (
        "- local_loop:\n    name: image0\n    mkfs:\n      name: mkfs_root\n      colour: red\n"
        "      mount: {mount_point: /}\n",
        ["colour"],
    ),
    "missing-base": (
        "- local_loop: {name: image0}\n- mkfs: {name: mkfs_root}\n"
        "- mount: {name: mount_root, base: mkfs_root, mount_point: /}\n",
        ["mkfs_root", "base"],
    ),
    "sizes-do-not-fit": (
        "- local_loop: {name: image0, size: 100MiB}\n"
        "- partitioning:\n    base: image0\n    label: mbr\n    partitions:\n"
        "      - name: root\n        size: 200MiB\n"
        "        mkfs: {name: mkfs_root, mount: {mount_point: /}}\n",
        ["root", "200"],
    ),
    "unreadable-file": ("file:///nonexistent/disk.yaml", ["/nonexistent/disk.yaml"]),
}


@pytest.mark.parametrize("case", list(BLOCK_DEVICE_CASES))
def test_bad_block_device_configs_are_refused(tmp_path: Path, case: str) -> None:
    text, expected = BLOCK_DEVICE_CASES[case]
    env = clean_env(tmp_path, DIB_BLOCK_DEVICE_CONFIG=text)
    done = run_dibpy([*TINY, "-t", "raw", "tiny-busybox"], env, tmp_path)
    assert_refused(done, tmp_path, expected)


# --- where the output goes --------------------------------------------------------------


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory on a read-only tmpfs: not writable even by root."""
    where = tmp_path / "ro"
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)


@pytest.mark.root
@pytest.mark.skipif(not IS_ROOT, reason="needs root to mount a read-only tmpfs")
def test_an_output_directory_that_is_not_writable_is_refused(
    tmp_path: Path, read_only_dir: Path
) -> None:
    argv = ["build", "-n", "--element-path", str(EXAMPLES), "-t", "tar"]
    done = run_dibpy(
        [*argv, "-o", str(read_only_dir / "img"), "tiny-busybox"], clean_env(tmp_path), tmp_path
    )
    assert done.returncode == 2, done.stderr
    assert_one_error_paragraph(done.stderr)
    assert_mentions(done.stderr, [str(read_only_dir / "img.tar"), "not a writable directory"])
    assert build_dirs(tmp_path / "tmp") == []
    assert list(read_only_dir.iterdir()) == []


def test_a_log_file_in_a_missing_directory_is_refused(tmp_path: Path) -> None:
    log_file = tmp_path / "no-such-dir" / "build.log"
    argv = [*TINY, "-t", "tar", "--log-file", str(log_file)]
    done = run_dibpy([*argv, "tiny-busybox"], clean_env(tmp_path), tmp_path)
    assert_refused(done, tmp_path, [f"--log-file {log_file}", "No such file or directory"])
    assert not log_file.parent.exists()


def test_an_output_path_under_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    argv = ["build", "-n", "--element-path", str(EXAMPLES), "-t", "tar"]
    output = str(tmp_path / "a-file" / "img")
    done = run_dibpy([*argv, "-o", output, "tiny-busybox"], clean_env(tmp_path), tmp_path)
    assert done.returncode == 2, done.stderr
    assert_one_error_paragraph(done.stderr)
    assert_mentions(done.stderr, [f"{output}.tar"])
    assert build_dirs(tmp_path / "tmp") == []


# --- host programs ----------------------------------------------------------------------


def path_without(tmp_path: Path, *missing: str) -> str:
    """A PATH with links to every program dibpy knows except ``missing`` (and python)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in [*hosttools.PACKAGES, "sh", "env"]:
        found = shutil.which(tool)
        if found and tool not in missing:
            (bin_dir / tool).symlink_to(found)
    return str(bin_dir)


MISSING_CASES: dict[str, tuple[list[str], tuple[str, ...], list[str]]] = {
    "qemu-img-for-qcow2": (["-t", "qcow2"], ("qemu-img",), ["qemu-img", "qemu-utils", "qcow2"]),
    "mksquashfs": (["-t", "squashfs"], ("mksquashfs",), ["mksquashfs", "squashfs-tools"]),
    "mke2fs-for-raw": (["-t", "raw"], ("mke2fs",), ["mke2fs", "e2fsprogs"]),
    "two-at-once": (
        ["-t", "tar,vhd"],
        ("tar", "qemu-img"),
        ["tar (Debian package tar", "qemu-img", "apt-get install tar qemu-utils"],
    ),
    "chroot": (["-t", "tar"], ("chroot",), ["chroot", "coreutils"]),
}


@pytest.mark.parametrize("case", list(MISSING_CASES))
def test_a_missing_host_program_is_named_with_its_package(tmp_path: Path, case: str) -> None:
    options, missing, expected = MISSING_CASES[case]
    env = clean_env(tmp_path, PATH=path_without(tmp_path, *missing))
    done = run_dibpy([*TINY, *options, "tiny-busybox"], env, tmp_path)
    assert_refused(done, tmp_path, expected)


def test_missing_programs_of_disk_layouts_and_elements_are_named(tmp_path: Path) -> None:
    """An EFI layout needs mkfs.vfat and mcopy; the debootstrap element needs debootstrap."""
    env = clean_env(
        tmp_path,
        PATH=path_without(tmp_path, "mkfs.vfat", "mcopy", "debootstrap"),
        DIB_RELEASE="bookworm",
    )
    done = run_dibpy(
        ["build", "-o", "out", "-t", "raw", "vm", "block-device-efi", "debian-minimal"],
        env,
        tmp_path,
    )
    assert_refused(
        done,
        tmp_path,
        ["mkfs.vfat", "dosfstools", "mcopy", "mtools", "debootstrap (Debian package debootstrap"],
    )


def test_every_program_dibpy_runs_has_a_package() -> None:
    """The table is complete for every tool the preflight asks for."""
    asked = set(hosttools.CORE)
    for tools in (*hosttools.FORMAT_TOOLS.values(), *hosttools.FS_TOOLS.values()):
        asked.update(tools)
    assert asked <= set(hosttools.PACKAGES)


def test_debug_shows_a_traceback_and_still_exits_2(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dibpy", "--debug", *TINY, "-t", "floppy", "tiny-busybox"],
        cwd=tmp_path,
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "Traceback" in done.stderr
    assert "floppy" in done.stderr
    assert build_dirs(tmp_path / "tmp") == []
