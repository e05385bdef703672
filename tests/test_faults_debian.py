"""The real-distro fault runs: ``dibpy build -t qcow2 vm debian-minimal`` (bookworm, from
the Debian mirror) gets SIGTERM while debootstrap's dpkg runs in its tree (root phase, a
host command), and while apt-get runs in a chroot session (with the shared apt cache
bind-mounted); it must stop with the phase, element and hook named, leave no mount, loop
device, process, output or build directory, and the next build on the same cache must
succeed. Each case starts from an empty image cache of its own, so they pass in any order
(once they shared one: the debootstrap case then saw dpkg only when it ran first, before
the other case had cached the debootstrap tree). Slow: real builds."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import build_dirs, clean_env, needs_root, processes_under
from test_faults import losetup, mount_points_under, no_loop_added

pytestmark = [pytest.mark.slow, pytest.mark.root, needs_root]

BUILD_TIMEOUT = 1500


def busy_in_tree(tmp_dir: Path, busy: set[str]) -> list[str]:
    """Names of processes named in ``busy`` whose root is a build's tree."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            root = str(Path(entry / "root").readlink())
            name = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if root.startswith(str(tmp_dir)) and root.endswith("/root") and name in busy:
            found.append(name)
    return found


def cached_trees(cache: Path) -> list[Path]:
    return sorted(cache.glob("debootstrap-debian-bookworm-*.tar.zst"))


@pytest.mark.parametrize(
    ("busy", "hook", "cached_when_interrupted"),
    [
        ({"dpkg", "dpkg-deb"}, ("root", "debootstrap", "debootstrap"), 0),
        ({"apt-get", "http"}, None, 1),
    ],
    ids=["debootstrap-dpkg", "apt-get"],
)
def test_sigterm_mid_package_install_then_the_next_build_succeeds(
    tmp_path: Path,
    busy: set[str],
    hook: tuple[str, str, str] | None,
    cached_when_interrupted: int,
) -> None:
    """The cache starts empty, so the first build runs debootstrap (dpkg in the tree, in the
    root phase) and then apt-get in a chroot session. Stopped in debootstrap, it caches no
    tree; stopped in apt-get, the tree debootstrap made is cached, and the next build reuses
    that file. (On a cache that holds the tree, the first dpkg in the tree is the base
    install's apt-get: the debootstrap case would stop that instead, and prove nothing about
    debootstrap.)"""
    cache = tmp_path / "cache"
    cache.mkdir()
    env = clean_env(tmp_path, DIB_RELEASE="bookworm", DIB_IMAGE_CACHE=str(cache))
    tmp_dir = Path(env["TMP_DIR"])
    loops = losetup()
    argv = [sys.executable, "-m", "dibpy", "build", "-t", "qcow2", "-o", str(tmp_path / "debian")]
    log = tmp_path / "first.log"
    with log.open("w") as stderr:
        proc = subprocess.Popen(
            [*argv, "vm", "debian-minimal"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        deadline = time.monotonic() + BUILD_TIMEOUT
        while not busy_in_tree(tmp_dir, busy):
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, f"{busy} never ran in the tree"
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        proc.wait(300)
    text = log.read_text()
    assert proc.returncode == 130, text[-3000:]
    assert "Traceback" not in text
    error = " ".join(text[text.index("dibpy: error:") :].split())
    where = re.search(
        r"Interrupted during the ([a-z-]+) phase, in hook '(\w+)' of element '([\w-]+)'", error
    )
    assert where, error
    if hook is not None:
        assert where.groups() == hook, error
    assert mount_points_under(tmp_path) == []
    assert no_loop_added(loops)
    assert processes_under(tmp_path) == []
    assert build_dirs(tmp_dir) == []
    assert list(tmp_path.glob("debian.*")) == []
    assert list(tmp_path.glob(".debian.*")) == []
    trees = cached_trees(cache)
    assert len(trees) == cached_when_interrupted, trees
    assert list(cache.rglob("*.part")) == [] and list(cache.rglob(".*partial")) == []
    before = [(p.name, p.stat().st_ino, p.stat().st_mtime_ns) for p in trees]

    again = subprocess.run(
        [*argv, "vm", "debian-minimal"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert (tmp_path / "debian.qcow2").is_file()
    assert mount_points_under(tmp_path) == []
    assert build_dirs(tmp_dir) == []
    after = [(p.name, p.stat().st_ino, p.stat().st_mtime_ns) for p in cached_trees(cache)]
    assert len(after) == 1
    if before:
        assert after == before  # reused, not made again


def test_two_debian_builds_at_once_on_one_cache(tmp_path: Path) -> None:
    """Two ``vm debian-minimal`` builds started together on one empty image cache: one runs
    debootstrap while the other waits for the debootstrap cache lock; their apt-get runs take
    turns on the shared apt archive cache (apt itself would refuse the second one); both
    succeed, and the cache holds one debootstrap tarball and no partial file."""
    cache = tmp_path / "cache"
    procs = []
    for n in range(2):
        base = tmp_path / f"b{n}"
        base.mkdir()
        env = clean_env(base, DIB_RELEASE="bookworm", DIB_IMAGE_CACHE=str(cache))
        log = (base / "build.log").open("w")
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "dibpy", "build", "-t", "tar", "-o", str(base / "img"),
                 "vm", "debian-minimal"],
                cwd=base,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        )  # fmt: skip
        log.close()
    for n, proc in enumerate(procs):
        proc.wait(BUILD_TIMEOUT)
        text = (tmp_path / f"b{n}" / "build.log").read_text()
        assert proc.returncode == 0, text[-3000:]
        assert (tmp_path / f"b{n}" / "img.tar").is_file()
    logs = "".join((tmp_path / f"b{n}" / "build.log").read_text() for n in range(2))
    assert "debootstrap-debian-bookworm" in logs and "another build is fetching" in logs
    assert len(list(cache.glob("debootstrap-debian-bookworm-*.tar.zst"))) == 1
    assert list(cache.rglob("*.part")) == [] and list(cache.rglob(".*partial")) == []
    assert mount_points_under(tmp_path) == []
    assert processes_under(tmp_path) == []
