"""End-to-end builds of the tiny-busybox example, as a user runs them: ``dibpy build -n -t tar
-o OUT --element-path examples/elements tiny-busybox``. Needs root (mount, chroot) and a
static busybox; each build takes about a second.

After every build: nothing is mounted under the test's directory and no build directory is
left in TMP_DIR (unless it was asked for).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import re
import signal
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import (
    EXAMPLES,
    build_dirs,
    clean_env,
    make_element,
    mount_lines,
    needs_root,
    processes_under,
    run_dibpy,
)

from dibpy.config.model import host_arch
from dibpy.host.workspace import use_tmpfs

BUSYBOX = Path("/bin/busybox")

pytestmark = [
    pytest.mark.root,
    needs_root,
    pytest.mark.skipif(not BUSYBOX.is_file(), reason="needs a static busybox (busybox-static)"),
]

BUILD_DIR_LINE = re.compile(r"^Build directory: (?P<path>.+)$", re.MULTILINE)


@dataclass
class Built:
    """One finished ``dibpy build`` run."""

    base: Path
    done: subprocess.CompletedProcess[str]
    output: Path

    @property
    def tmp_dir(self) -> Path:
        return self.base / "tmp"

    @property
    def kept(self) -> Path | None:
        found = BUILD_DIR_LINE.search(self.done.stdout)
        return Path(found["path"]) if found else None

    @property
    def error(self) -> str:
        """The ``dibpy: error:`` paragraph, flattened to one line."""
        at = self.done.stderr.find("dibpy: error:")
        assert at >= 0, self.done.stderr
        return " ".join(self.done.stderr[at:].split())

    def members(self) -> dict[str, tarfile.TarInfo]:
        with tarfile.open(self.output) as tar:
            return {m.name: m for m in tar.getmembers()}

    def read(self, name: str) -> bytes:
        with tarfile.open(self.output) as tar:
            stream = tar.extractfile(name)
            assert stream is not None, name
            return stream.read()


def build(
    base: Path,
    *elements: str,
    options: tuple[str, ...] = (),
    element_paths: tuple[Path, ...] = (),
    fmt: str = "tar",
    **env: str,
) -> Built:
    base.mkdir(parents=True, exist_ok=True)
    output = base / "out"
    paths = [f"--element-path={p}" for p in (EXAMPLES, *element_paths)]
    argv = ["build", "-n", "-t", fmt, "-o", str(output), *paths, *options]
    done = run_dibpy([*argv, *(elements or ("tiny-busybox",))], clean_env(base, **env), base)
    return Built(base, done, output.with_name(f"out.{fmt}"))


def assert_nothing_mounted(base: Path) -> None:
    assert mount_lines(base) == []


def remove_kept(path: Path | None) -> None:
    if path is not None and path.exists():
        subprocess.run(["rm", "-rf", "--one-file-system", str(path)], check=True)


# --- a successful build ------------------------------------------------------------------


@pytest.fixture(scope="module")
def default_build(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build(tmp_path_factory.mktemp("default"))


def test_build_succeeds_and_cleans_up(default_build: Built) -> None:
    done = default_build.done
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert default_build.output.is_file()
    assert str(default_build.output) in done.stdout.splitlines()
    assert default_build.kept is None
    assert build_dirs(default_build.tmp_dir) == []
    assert not (default_build.base / ".out.tar.partial").exists()
    assert_nothing_mounted(default_build.base)


def test_tarball_holds_busybox_and_applets_made_in_the_chroot(default_build: Built) -> None:
    members = default_build.members()
    assert members["./bin/busybox"].isfile()
    assert members["./bin/busybox"].mode & 0o111
    for applet in ("ls", "sh", "cat"):
        link = members[f"./bin/{applet}"]
        assert link.issym(), applet
        assert link.linkname == "/bin/busybox"


def test_proc_was_mounted_in_the_chroot(default_build: Built) -> None:
    assert default_build.read("./etc/built-on") == b"Linux\n"


def test_finalise_wrote_motd_and_issue(default_build: Built) -> None:
    assert default_build.read("./etc/motd") == b"Welcome to tiny-busybox\n"
    assert default_build.read("./etc/issue") == f"out ({host_arch()})\n".encode()


def test_home_is_owned_by_the_default_uid_numerically(default_build: Built) -> None:
    home = default_build.members()["./home/user"]
    assert home.isdir()
    assert (home.uid, home.gid) == (1000, 1000)
    assert default_build.members()["./bin/busybox"].uid == 0


def test_the_driver_left_no_trace_in_the_tree(default_build: Built) -> None:
    names = set(default_build.members())
    assert "./etc/resolv.conf" not in names
    assert "./etc/resolv.conf.ORIG" not in names
    for api_fs in ("proc", "sys", "dev"):
        assert f"./{api_fs}" in names
        assert not [n for n in names if n.startswith(f"./{api_fs}/")], api_fs


# --- settings and a kept build directory -------------------------------------------------

GREETING = "Hello from the dibpy tests"


@pytest.fixture(scope="module")
def kept_build(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    built = build(
        tmp_path_factory.mktemp("kept"),
        options=("--keep-build-dir",),
        TINY_GREETING=GREETING,
        TINY_UID="4242",
    )
    yield built
    remove_kept(built.kept)


def test_settings_come_from_the_environment(kept_build: Built) -> None:
    assert kept_build.done.returncode == 0, kept_build.done.stderr
    assert kept_build.read("./etc/motd") == f"{GREETING}\n".encode()
    home = kept_build.members()["./home/user"]
    assert (home.uid, home.gid) == (4242, 4242)
    assert b"user:x:4242:4242:" in kept_build.read("./etc/passwd")


def test_keep_build_dir_keeps_it_and_prints_its_path(kept_build: Built) -> None:
    assert kept_build.done.returncode == 0, kept_build.done.stderr
    kept = kept_build.kept
    assert kept is not None, kept_build.done.stdout
    assert kept.parent == kept_build.tmp_dir
    assert build_dirs(kept_build.tmp_dir) == [kept]
    assert (kept / "root/bin/busybox").is_file()
    assert (kept / "root/etc/motd").read_text() == f"{GREETING}\n"
    assert kept_build.output.is_file()
    assert_nothing_mounted(kept_build.base)


def test_stop_after_keeps_the_tree_and_writes_no_output(tmp_path: Path) -> None:
    built = build(tmp_path, options=("--stop-after", "install"))
    try:
        assert built.done.returncode == 0, built.done.stderr
        kept = built.kept
        assert kept is not None, built.done.stdout
        assert (kept / "root/etc/built-on").read_text() == "Linux\n"
        assert not (kept / "root/etc/motd").exists()  # finalise did not run
        assert not built.output.exists()
        assert not (tmp_path / ".out.tar.partial").exists()
        assert_nothing_mounted(tmp_path)
    finally:
        remove_kept(built.kept)


# --- failures ----------------------------------------------------------------------------

FAILING = '''
"""Fails in its install hook."""
from pathlib import Path

from dibpy import cleanup_hook, install_hook

DEPENDS = ["tiny-busybox"]


@install_hook(order=50)
def fail_here(ctx):
    {body}


@cleanup_hook(order=50)
def note_cleanup(ctx):
    Path({marker!r}).write_text("cleanup ran")
'''

BODIES = {
    "raises": 'raise RuntimeError("the failure the test asked for")',
    "command-fails": 'ctx.chroot.run(["/bin/false"])',
    "raises-in-session": (
        'with ctx.chroot.session():\n        ctx.chroot.run(["/bin/true"])\n'
        '        raise RuntimeError("the failure the test asked for")'
    ),
}


@pytest.mark.parametrize("how", list(BODIES))
def test_a_failing_hook_fails_the_build_and_leaves_nothing(tmp_path: Path, how: str) -> None:
    marker = tmp_path / "cleanup-ran"
    elements = tmp_path / "elements"
    make_element(elements, "failing", FAILING.format(body=BODIES[how], marker=str(marker)))
    built = build(tmp_path, "failing", element_paths=(elements,))
    assert built.done.returncode == 1, built.done.stderr
    assert "Traceback" not in built.done.stderr
    error = built.error
    assert error.startswith("dibpy: error: The install phase failed")
    assert "'fail_here'" in error
    assert "'failing'" in error
    if how == "command-fails":
        assert "/bin/false" in error
    else:
        assert "the failure the test asked for" in error
    assert marker.read_text() == "cleanup ran"
    assert not built.output.exists()
    assert not (tmp_path / ".out.tar.partial").exists()
    assert build_dirs(built.tmp_dir) == []
    assert_nothing_mounted(tmp_path)


def test_an_os_element_that_makes_no_tree_fails(tmp_path: Path) -> None:
    elements = tmp_path / "elements"
    make_element(elements, "hollow-os", '"""Makes nothing."""\nPROVIDES = ["operating-system"]\n')
    built = build(tmp_path, "hollow-os", element_paths=(elements,))
    assert built.done.returncode == 1, built.done.stderr
    assert "Traceback" not in built.done.stderr
    assert "tree is empty" in built.error
    assert not built.output.exists()
    assert build_dirs(built.tmp_dir) == []
    assert_nothing_mounted(tmp_path)


# --- a hook that leaves a process running ------------------------------------------------

DAEMON = '''
"""Starts a daemon in the chroot and leaves it running."""
from dibpy import install_hook

DEPENDS = ["tiny-busybox"]


@install_hook(order=50)
def start_daemon(ctx):
    ctx.chroot.run(
        ["/bin/busybox", "start-stop-daemon", "-S", "-b", "-x", "/bin/sleep", "--", "{seconds}"]
    )
'''


def sleepers(seconds: str) -> list[int]:
    """Processes running ``sleep SECONDS``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if seconds.encode() in argv and any(a.endswith(b"sleep") for a in argv[:1]):
            found.append(int(entry.name))
    return found


@pytest.fixture
def sleep_seconds() -> Iterator[str]:
    """A distinctive ``sleep`` duration; whatever still sleeps it afterwards is killed."""
    seconds = str(random.randint(30_000, 39_999))
    yield seconds
    for pid in sleepers(seconds):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_a_process_left_running_in_the_chroot_is_stopped(
    tmp_path: Path, sleep_seconds: str
) -> None:
    elements = tmp_path / "elements"
    make_element(elements, "daemonic", DAEMON.format(seconds=sleep_seconds))
    built = build(tmp_path, "daemonic", element_paths=(elements,))
    assert sleepers(sleep_seconds) == []
    assert processes_under(tmp_path) == []
    assert_nothing_mounted(tmp_path)
    assert build_dirs(built.tmp_dir) == []
    assert built.done.returncode == 0, built.done.stderr
    assert built.output.is_file()


# --- outputs -----------------------------------------------------------------------------


def test_a_disk_format_is_never_a_silent_success(tmp_path: Path) -> None:
    """``-t qcow2`` must either write OUT.qcow2 or refuse with an error; never exit 0 with
    nothing written."""
    built = build(tmp_path, fmt="qcow2")
    assert "Traceback" not in built.done.stderr
    if built.done.returncode == 0:
        assert built.output.is_file(), "exit 0, but no out.qcow2 was written"
    else:
        assert built.done.returncode in (1, 2)
        assert "dibpy: error:" in built.done.stderr
        assert not built.output.exists()
    assert build_dirs(built.tmp_dir) == []
    assert_nothing_mounted(tmp_path)


ALL_FORMATS = ("qcow2", "raw", "vhd", "vmdk", "tar", "tgz", "squashfs")
QEMU_IMG_FORMAT = {"qcow2": "qcow2", "raw": "raw", "vhd": "vpc", "vmdk": "vmdk"}


def qemu_img_info(path: Path) -> dict[str, object]:
    done = subprocess.run(
        ["qemu-img", "info", "--output=json", str(path)], capture_output=True, text=True, check=True
    )
    info: dict[str, object] = json.loads(done.stdout)
    return info


def test_every_output_format_in_one_build_with_checksums(tmp_path: Path) -> None:
    """``-t qcow2,raw,vhd,vmdk,tar,tgz,squashfs --checksum``: each file is what its name
    says, holds the tree, and has NAME.FMT.sha256 and .md5 as DIB writes them."""
    built = build(tmp_path, fmt=",".join(ALL_FORMATS), options=("--checksum",))
    assert built.done.returncode == 0, built.done.stderr
    out = tmp_path / "out"
    for fmt in ALL_FORMATS:
        path = out.with_name(f"out.{fmt}")
        data = path.read_bytes()
        assert (out.with_name(f"out.{fmt}.sha256")).read_text() == (
            f"{hashlib.sha256(data).hexdigest()}  out.{fmt}\n"
        )
        assert (out.with_name(f"out.{fmt}.md5")).read_text() == (
            f"{hashlib.md5(data).hexdigest()}  out.{fmt}\n"
        )
        if fmt in QEMU_IMG_FORMAT:
            info = qemu_img_info(path)
            assert info["format"] == QEMU_IMG_FORMAT[fmt], (fmt, info)
    # The disk formats all carry the same disk: the raw one is the tree's ext4 (no
    # partition table without a block-device element), labelled as DIB labels it.
    label = subprocess.run(
        ["blkid", "-o", "value", "-s", "LABEL", str(out.with_name("out.raw"))],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert label == "cloudimg-rootfs"
    listing = subprocess.run(
        ["debugfs", "-R", "ls -p /bin", str(out.with_name("out.raw"))],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "/busybox/" in listing
    squashfs = subprocess.run(
        ["unsquashfs", "-l", str(out.with_name("out.squashfs"))],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "squashfs-root/bin/busybox" in squashfs
    with tarfile.open(out.with_name("out.tgz")) as tgz:
        assert "./bin/busybox" in tgz.getnames() or "bin/busybox" in tgz.getnames()
    assert list(tmp_path.glob(".*.partial")) == []
    assert build_dirs(built.tmp_dir) == []
    assert_nothing_mounted(tmp_path)


def test_uncompressed_qcow2_is_bigger_than_the_default(tmp_path: Path) -> None:
    """qcow2 is compressed unless ``-u`` (DIB's default): the same tree, two sizes."""
    compressed = build(tmp_path / "c", fmt="qcow2")
    plain = build(tmp_path / "u", fmt="qcow2", options=("-u",))
    assert compressed.done.returncode == 0, compressed.done.stderr
    assert plain.done.returncode == 0, plain.done.stderr
    assert plain.output.stat().st_size > 2 * compressed.output.stat().st_size


# --- the build directory on a tmpfs, as DIB's -----------------------------------------------

WHERE_AM_I = '''
"""Records the file system type of the build directory."""
from pathlib import Path

from dibpy import install_hook

DEPENDS = ["tiny-busybox"]


@install_hook(order=50)
def record_build_dir_fstype(ctx):
    mounts = [line.split() for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    below = [m for m in mounts if str(ctx.build_dir).startswith(m[4])]
    point = max(below, key=lambda m: len(m[4]))
    fstype = point[point.index("-") + 1]
    Path({marker!r}).write_text(f"{{point[4]}} {{fstype}}")
'''


@pytest.mark.parametrize(
    ("env", "options", "on_tmpfs"),
    [
        ({}, (), True),
        ({"DIB_NO_TMPFS": "1"}, (), False),
        ({}, ("--no-tmpfs",), False),
        ({"DIB_MIN_TMPFS": "100000"}, (), False),  # more memory than any machine has
        ({}, ("--keep-build-dir",), False),  # a kept build directory lives on disk
    ],
    ids=["default", "DIB_NO_TMPFS", "--no-tmpfs", "DIB_MIN_TMPFS", "kept"],
)
def test_the_build_directory_is_a_tmpfs_as_in_dib(
    tmp_path: Path, env: dict[str, str], options: tuple[str, ...], on_tmpfs: bool
) -> None:
    marker = tmp_path / "fstype"
    elements = tmp_path / "elements"
    make_element(elements, "where-am-i", WHERE_AM_I.format(marker=str(marker)))
    built = build(tmp_path, "where-am-i", element_paths=(elements,), options=options, **env)
    try:
        assert built.done.returncode == 0, built.done.stderr
        mount_point, fstype = marker.read_text().split()
        assert (fstype == "tmpfs") == on_tmpfs, (mount_point, fstype)
        if on_tmpfs:
            assert Path(mount_point).name.startswith("dibpy_build.")
        assert built.output.is_file()
        assert_nothing_mounted(tmp_path)
        assert build_dirs(built.tmp_dir) == (
            [] if "--keep-build-dir" not in options else [built.kept]
        )
    finally:
        remove_kept(built.kept)


@pytest.mark.parametrize(
    ("meminfo", "no_tmpfs", "min_gb", "expected"),
    [
        ("MemTotal:       24567840 kB\n", False, 2, True),
        ("MemTotal:        3000000 kB\n", False, 2, False),  # under 2 x 2 GiB
        ("MemTotal:        4194304 kB\n", False, 2, True),  # exactly 4 GiB
        ("MemTotal:       24567840 kB\n", True, 2, False),
        ("nonsense\n", False, 2, False),
    ],
)
def test_use_tmpfs_follows_dibs_rule(
    tmp_path: Path, meminfo: str, no_tmpfs: bool, min_gb: int, expected: bool
) -> None:
    (tmp_path / "meminfo").write_text("MemFree: 1 kB\n" + meminfo)
    found = use_tmpfs(no_tmpfs=no_tmpfs, min_tmpfs_gb=min_gb, meminfo=tmp_path / "meminfo")
    assert found is expected
