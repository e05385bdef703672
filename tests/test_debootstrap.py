"""A real Debian bookworm root from deb.debian.org with debootstrap, then again from the cache.

Slow (a cold build downloads a minimal Debian and the base packages) and needs root.
"""

from __future__ import annotations

import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from root_helpers import (
    build_dirs,
    build_env,
    describe,
    force_unmount,
    kept_build_dir,
    mounts_under,
    needs_root,
    remove_tree,
    run_build,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.root,
    needs_root,
    pytest.mark.skipif(shutil.which("debootstrap") is None, reason="debootstrap is not installed"),
]

SECURITY = "deb http://deb.debian.org/debian-security bookworm-security main\n"
OTHER_SECURITY = "http://example.invalid/x"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One cache for the module's builds; every kept build directory is removed at the end."""
    folder = tmp_path_factory.mktemp("debootstrap")
    yield folder
    leftover_mounts = force_unmount(folder)
    for build_dir in build_dirs(folder / "builds"):
        remove_tree(build_dir)
    assert leftover_mounts == []


def build(workdir: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = build_env(workdir, DIB_RELEASE="bookworm", **extra)
    return run_build(
        ["-a", "amd64", "--stop-after", "root", "-o", "x", "vm", "debian-minimal"],
        env,
        workdir / "cwd",
        timeout=1800,
    )


def check_dpkg_settings(root: Path) -> None:
    ssd = root / "usr/sbin/start-stop-daemon"
    assert (root / "usr/sbin/start-stop-daemon.REAL").stat().st_size > 10_000  # the real ELF
    assert "Fake start-stop-daemon" in ssd.read_text()
    assert stat.S_IMODE(ssd.stat().st_mode) == 0o755
    policy = root / "usr/sbin/policy-rc.d"
    assert policy.read_text() == "#!/bin/sh\nexit 101\n"
    assert stat.S_IMODE(policy.stat().st_mode) == 0o755
    assert (root / "etc/dpkg/dpkg.cfg.d/02apt-speedup").read_text() == "force-unsafe-io\n"
    assert (root / "etc/apt/apt.conf.d/no-languages").is_file()
    assert (root / "etc/apt/apt.conf.d/95no-translations").is_file()


def test_debian_bookworm_with_debootstrap_then_from_the_cache(workdir: Path) -> None:
    cache = workdir / "cache"

    cold = build(workdir)
    assert cold.returncode == 0, describe(cold)
    assert "$ debootstrap --verbose" in cold.stderr
    first = kept_build_dir(cold)
    root = first / "root"
    assert (root / "etc/debian_version").read_text().startswith("12")
    sources = root / "etc/apt/sources.list.d"
    assert sorted(p.name for p in sources.iterdir()) == [
        "default.list",
        "security.list",
        "updates.list",
    ]
    assert (sources / "default.list").read_text() == (
        "deb http://deb.debian.org/debian bookworm main\n"
    )
    assert (sources / "updates.list").read_text() == (
        "deb http://deb.debian.org/debian bookworm-updates main\n"
    )
    assert (sources / "security.list").read_text() == SECURITY
    assert not (root / "etc/apt/sources.list").exists()
    check_dpkg_settings(root)
    # The base packages went in during the root phase.
    assert (root / "usr/bin/python3").exists()
    assert mounts_under(workdir) == []
    cached = sorted(cache.glob("debootstrap-debian-bookworm-amd64-*.tar.zst"))
    assert len(cached) == 1
    assert list(cache.glob(".debootstrap-*.partial")) == []
    # The shared apt cache is mounted at root order 99, after the base install (75), as in DIB.
    assert (cache / "apt/debian").is_dir()

    warm = build(workdir, DIB_DEBIAN_SECURITY_MIRROR=OTHER_SECURITY)
    assert warm.returncode == 0, describe(warm)
    assert "debootstrap --verbose" not in warm.stderr
    second = kept_build_dir(warm)
    assert second != first
    root = second / "root"
    assert (root / "etc/debian_version").read_text().startswith("12")
    assert (root / "etc/apt/sources.list.d/security.list").read_text() == (
        f"deb {OTHER_SECURITY} bookworm-security main\n"
    )
    check_dpkg_settings(root)
    assert sorted(cache.glob("debootstrap-debian-bookworm-amd64-*.tar.zst")) == cached
    assert mounts_under(workdir) == []
    assert sorted(build_dirs(workdir / "builds")) == sorted([first, second])
