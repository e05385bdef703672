"""Helpers for the tests that build trees for real: mounts, processes, the CLI, busybox trees.

The checks here read the kernel's tables directly (``/proc/self/mountinfo``, ``/proc/*/root``)
rather than through dibpy, so that they can catch dibpy getting them wrong.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

BUSYBOX = Path("/bin/busybox")
APPLETS = ("sh", "sleep", "cat", "echo", "ls", "true", "mkdir", "rm", "chown")

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (mount, chroot, mknod)")
needs_busybox = pytest.mark.skipif(
    not BUSYBOX.is_file(), reason="needs a static busybox (busybox-static)"
)

# What a fake program in a test tree looks like: a shell script that succeeds and says so.
FAKE_TOOL = '#!/bin/sh\necho "fake $0 $*"\nexit 0\n'
REAL_SSD = "#!/bin/sh\necho 'the real start-stop-daemon of the tree'\n"

# Host variables that would change what a build does; a test sets what it needs itself.
LEAKY_PREFIXES = (
    "DIB_",
    "TINY_",
    "ELEMENTS_PATH",
    "ARCH",
    "TMP_DIR",
    "IMAGE_NAME",
    "BASE_IMAGE",
    "SHA256SUMS",
)
PROXIES = ("http_proxy", "https_proxy", "no_proxy")

_BUILD_DIR_LINE = re.compile(r"^Build directory: (?P<path>.+)$", re.MULTILINE)


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def mount_points(pid: int | str = "self") -> list[Path]:
    """Every mount point of the mount namespace of process ``pid`` (default: this one, the
    host's), read from the kernel. A build runs in a mount namespace of its own: give the
    pid of the build's process to see its mounts."""
    text = Path(f"/proc/{pid}/mountinfo").read_text()
    return [Path(_unescape(line.split(" ")[4])) for line in text.splitlines() if line]


def mounts_under(directory: Path, pid: int | str = "self") -> list[Path]:
    """The mount points at or below ``directory`` (in the mount namespace of ``pid``)."""
    root = directory.resolve()
    return [p for p in mount_points(pid) if p == root or root in p.parents]


def parent_of(pid: int) -> int:
    """The parent of process ``pid`` (of a command in the chroot: the build's process)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))


def processes_rooted_in(directory: Path) -> list[tuple[int, str]]:
    """(pid, comm) of every process whose root directory is ``directory`` or below it,
    including one whose root has been deleted since (the kernel then adds `` (deleted)``)."""
    root = str(directory.resolve())
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            proc_root = os.readlink(entry / "root").removesuffix(" (deleted)")
            name = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if proc_root == root or proc_root.startswith(root + "/"):
            found.append((int(entry.name), name))
    return found


def force_unmount(directory: Path) -> list[Path]:
    """Lazily unmount whatever a failed test left mounted below ``directory`` (deepest
    first), so that one failure does not leave the machine dirty; returns what it found."""
    found = sorted(mounts_under(directory), key=lambda p: len(p.parts), reverse=True)
    for point in found:
        subprocess.run(["umount", "--lazy", str(point)], check=False)
    return found


def kill_rooted_in(directory: Path) -> list[tuple[int, str]]:
    """Kill the processes a failed test left running in ``directory``; returns them."""
    found = processes_rooted_in(directory)
    for pid, _ in found:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return found


def build_dirs(tmp_dir: Path) -> list[Path]:
    """The ``dibpy_build.*`` directories in a build's TMP_DIR."""
    return sorted(tmp_dir.glob("dibpy_build.*")) if tmp_dir.is_dir() else []


def remove_tree(path: Path) -> None:
    """Remove a kept build directory without ever crossing into a mount."""
    if path.exists():
        subprocess.run(["rm", "-rf", "--one-file-system", str(path)], check=True)


def build_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a CLI build confined to ``tmp_path``: its own TMP_DIR and cache."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(LEAKY_PREFIXES) and k.lower() not in PROXIES
    }
    env["TMP_DIR"] = str(tmp_path / "builds")
    env["DIB_IMAGE_CACHE"] = str(tmp_path / "cache")
    env.update(extra)
    return env


def dibpy_argv(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "dibpy", "build", *(str(a) for a in args)]


def run_build(
    args: Sequence[str | Path], env: Mapping[str, str], cwd: Path, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """``python -m dibpy build ARGS``; output captured, never raising on failure."""
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        dibpy_argv(*args),
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def describe(result: subprocess.CompletedProcess[str]) -> str:
    """The tail of a build's output, for assertion messages."""
    return (
        f"exit {result.returncode}\nstdout:\n{result.stdout[-3000:]}\n"
        f"stderr:\n{result.stderr[-6000:]}"
    )


def kept_build_dir(result: subprocess.CompletedProcess[str]) -> Path:
    match = _BUILD_DIR_LINE.search(result.stdout)
    assert match, f"no 'Build directory:' line\n{describe(result)}"
    return Path(match["path"].strip())


def make_busybox_tree(root: Path, *, merged_usr: bool = False) -> None:
    """A tiny root tree that runs in a chroot: static busybox, a few applets, fake apt tools
    (so the dpkg element's apt-get and dpkg-query calls succeed) and a real-looking
    start-stop-daemon."""
    for folder in ("bin", "etc", "proc", "sys", "dev", "root", "usr/bin", "usr/sbin", "var/log"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "tmp").mkdir(exist_ok=True)
    (root / "tmp").chmod(0o1777)
    if merged_usr:
        (root / "sbin").symlink_to("usr/sbin")
    else:
        (root / "sbin").mkdir(exist_ok=True)
    shutil.copy2(BUSYBOX, root / "bin/busybox")
    for applet in APPLETS:
        (root / "bin" / applet).symlink_to("busybox")
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc/group").write_text("root:x:0:\n")
    (root / "etc/os-release").write_text('NAME="tiny"\nID=tiny\n')
    for tool in ("apt-get", "dpkg-query"):
        (root / "usr/bin" / tool).write_text(FAKE_TOOL)
        (root / "usr/bin" / tool).chmod(0o755)
    ssd = root / "usr/sbin/start-stop-daemon" if merged_usr else root / "sbin/start-stop-daemon"
    ssd.write_text(REAL_SSD)
    ssd.chmod(0o755)


def tar_names(archive: Path) -> list[str]:
    with tarfile.open(archive) as tar:
        return tar.getnames()


def tar_text(archive: Path, name: str) -> str:
    with tarfile.open(archive) as tar:
        member = tar.extractfile(name)
        assert member is not None, f"{name} is not a regular file in {archive}"
        return member.read().decode()
