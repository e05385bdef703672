"""The image cache's one owner (``dibpy.host.cache.ImageCache``, ``ctx.cache``): its areas
keep the cache's existing layout, its entry locks serialise threads and processes, its
verified downloads (a real HTTP server on 127.0.0.1) refuse a corrupt file and leave
nothing of it, and the built-in elements ask it for areas instead of composing paths.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import filelock
import pytest
from pytest_httpserver import HTTPServer

from dibpy.errors import BuildError
from dibpy.host.cache import AREAS, ImageCache, LockTimeoutError
from dibpy.host.checksums import ChecksumMismatchError
from dibpy.host.fetch import Fetcher

REPO = Path(__file__).resolve().parents[1]
FAST = Fetcher(backoff=0.01, retries=1, connect_timeout=2.0, read_timeout=5.0)
IMAGE = b"pretend this is a cloud image\n" * 500


def cache_at(root: Path) -> ImageCache:
    return ImageCache(root, fetcher=FAST)


# --- areas -----------------------------------------------------------------------------------


def test_areas_keep_the_existing_cache_layout(tmp_path: Path) -> None:
    """Caches filled by DIB or earlier dibpy stay valid: same directories as before."""
    cache = cache_at(tmp_path)
    assert cache.area("cloud-images").path == tmp_path
    assert cache.area("debootstrap").path == tmp_path
    assert cache.area("apt-archives", "ubuntu").path == tmp_path / "apt/ubuntu"
    assert cache.area("ccache").path == tmp_path / "ccache"
    assert cache.area("source-repositories").path == tmp_path / "source-repositories"
    assert set(AREAS) == {
        "cloud-images",
        "debootstrap",
        "apt-archives",
        "ccache",
        "source-repositories",
    }


def test_an_elements_own_area_is_a_directory_of_its_name(tmp_path: Path) -> None:
    area = cache_at(tmp_path).area("my-element")
    assert area.path == tmp_path / "my-element"
    assert area.path.is_dir()
    assert area.entry("thing.tar") == tmp_path / "my-element/thing.tar"


@pytest.mark.parametrize("name", ["", "..", ".hidden", "a/b", "../../etc", "x\0y"])
def test_names_that_leave_the_area_are_refused(tmp_path: Path, name: str) -> None:
    cache = cache_at(tmp_path)
    with pytest.raises(BuildError, match="not a valid cache area name"):
        cache.area(name)
    with pytest.raises(BuildError, match="not a valid cache area name"):
        cache.area("apt-archives", name)
    with pytest.raises(BuildError, match="not a valid cache entry name"):
        cache.area("ccache").entry(name)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ccache"]


# --- locks -----------------------------------------------------------------------------------


def test_threads_contending_for_one_entry_take_turns(tmp_path: Path) -> None:
    area = cache_at(tmp_path).area("debootstrap")
    spans: list[tuple[float, float]] = []

    def work() -> None:
        with area.lock("tree.tar.zst", timeout=30) as path:
            assert path == tmp_path / "tree.tar.zst"
            started = time.monotonic()
            time.sleep(0.1)
            spans.append((started, time.monotonic()))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    spans.sort()
    assert len(spans) == 4
    assert all(earlier[1] <= later[0] for earlier, later in itertools.pairwise(spans))
    assert (tmp_path / "tree.tar.zst.lock").exists()


HOLD = """
import sys, pathlib
from dibpy.host.cache import ImageCache
from dibpy.host.fetch import Fetcher
area = ImageCache(pathlib.Path(sys.argv[1]), fetcher=Fetcher()).area("apt-archives", "debian")
with area.lock("dibpy-apt"):
    print("held", flush=True)
    sys.stdin.read()
"""


def test_another_process_holding_an_entry_makes_a_build_wait_then_give_up(
    tmp_path: Path,
) -> None:
    """A second build waits for the entry another build holds, and only for that entry;
    after the timeout it fails naming the lock file."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    area = cache_at(tmp_path).area("apt-archives", "debian")
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with area.lock("another-entry", timeout=0.2):
            pass  # a different entry is free
        with pytest.raises(LockTimeoutError) as info, area.lock("dibpy-apt", timeout=0.3):
            pass
        assert f"{tmp_path}/apt/debian/dibpy-apt.lock" in str(info.value)
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(10)
    with area.lock("dibpy-apt", timeout=0.3):
        pass


# --- verified downloads ----------------------------------------------------------------------


def serve(httpserver: HTTPServer, body: bytes, listed: bytes) -> tuple[str, str]:
    digest = hashlib.sha256(listed).hexdigest()
    httpserver.expect_request("/img/root.tar").respond_with_data(body)
    httpserver.expect_request("/img/SHA256SUMS").respond_with_data(f"{digest} *root.tar\n")
    return httpserver.url_for("/img/root.tar"), httpserver.url_for("/img/SHA256SUMS")


def test_a_verified_download_is_placed_and_locked_while_used(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    url, sums_url = serve(httpserver, IMAGE, IMAGE)
    area = cache_at(tmp_path).area("cloud-images")
    with area.verified(url, "root.tar", sums_url=sums_url, sums_entry="SUMS.root") as image:
        assert image == tmp_path / "root.tar"
        assert image.read_bytes() == IMAGE
        other = filelock.FileLock(tmp_path / "root.tar.lock")
        with pytest.raises(filelock.Timeout):
            other.acquire(timeout=0.05)  # no other build can replace it meanwhile
    assert sorted(p.name for p in tmp_path.iterdir()) == ["SUMS.root", "root.tar", "root.tar.lock"]


def test_a_corrupt_download_is_refused_and_leaves_no_file(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    corrupt = IMAGE[:-1] + b"X"
    url, sums_url = serve(httpserver, corrupt, IMAGE)
    area = cache_at(tmp_path).area("cloud-images")
    used = False
    with (
        pytest.raises(ChecksumMismatchError, match=re.escape(hashlib.sha256(IMAGE).hexdigest())),
        area.verified(url, "root.tar", sums_url=sums_url, sums_entry="SUMS.root"),
    ):
        used = True
    assert not used
    assert sorted(p.name for p in tmp_path.iterdir()) == ["SUMS.root", "root.tar.lock"]


def test_placing_an_entry_is_all_or_nothing(tmp_path: Path) -> None:
    area = cache_at(tmp_path).area("debootstrap")
    with pytest.raises(RuntimeError), area.placing("tree.tar") as partial:
        partial.write_text("half a tarb")
        raise RuntimeError("tar died")
    assert list(tmp_path.iterdir()) == []
    with area.placing("tree.tar") as partial:
        assert partial.parent == tmp_path and partial.name.startswith(".")
        partial.write_text("a whole tarball")
    assert [p.name for p in tmp_path.iterdir()] == ["tree.tar"]
    assert (tmp_path / "tree.tar").read_text() == "a whole tarball"


# --- the elements ask for areas ----------------------------------------------------------------

CACHE_INTERNALS = re.compile(
    r"image_cache|cache_lock|filelock|is_mounted|bind_mount|dibpy\.host\.(?:mounts|fetch|cache)"
)


def test_no_element_composes_cache_paths_or_takes_its_own_locks() -> None:
    """The built-in and example elements use ``ctx.cache`` and ``ctx.mounts`` only."""
    sources = [*(REPO / "elements").rglob("*.py"), *(REPO / "examples").rglob("*.py")]
    offenders = {
        str(path.relative_to(REPO)): CACHE_INTERNALS.findall(path.read_text())
        for path in sources
        if CACHE_INTERNALS.search(path.read_text())
    }
    assert offenders == {}
