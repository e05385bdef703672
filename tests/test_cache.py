"""The image cache under real builds: a tiny custom OS element (``served-os``) fetches its
root tarball the way elements/ubuntu.py does (``ctx.cache.area(...).verified(...)`` +
``extract_root_image``) from an HTTP server on 127.0.0.1 that counts what it sends.

* Four ``dibpy build`` processes at once on one cache: the tarball is downloaded once, all
  four succeed, and the cache holds the tarball, its sums and their locks, nothing else.
* Download faults during the build (the connection dropped mid-body, HTTP 500, a stall past
  the read timeout): the build fails naming the phase, element and hook; the cache holds no
  partial file; the next build, with the server healthy again, succeeds.
* A cache file or lock that someone replaced with a symlink is not written through.

Needs root (chroot, mount) and a static busybox.
"""

from __future__ import annotations

import email.utils
import hashlib
import io
import os
import stat
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from conftest import build_dirs, clean_env, make_element, mount_lines, needs_root
from fetch_helpers import LAST_MODIFIED, RawServer, closed_port, send_full, send_truncated

pytestmark = [
    pytest.mark.root,
    needs_root,
    pytest.mark.skipif(not Path("/bin/busybox").is_file(), reason="needs busybox-static"),
]

TARBALL_NAME = "served-root.tar.gz"

SERVED_OS = f'''
"""A tiny OS whose root tarball comes from a server, SHA256-verified, as ubuntu's does."""
import dataclasses

from dibpy import BuildContext, ElementSettings, install_hook, root_hook, setting
from dibpy.tree.extract import extract_root_image

PROVIDES = ["operating-system"]


class Served(ElementSettings):
    base: str = setting("SERVED_BASE_URL", ..., "where the tarball and SHA256SUMS are")


@root_hook(order=10)
def fetch_root(ctx: BuildContext) -> None:
    base = ctx.settings(Served).base
    # Short timeouts so that a stalled server fails the test quickly.
    fetcher = dataclasses.replace(ctx.fetcher, read_timeout=1.0, retries=1, backoff=0.1)
    with ctx.cache.area("cloud-images").verified(
        f"{{base}}/{TARBALL_NAME}",
        "{TARBALL_NAME}",
        sums_url=f"{{base}}/SHA256SUMS",
        sums_entry="SHA256SUMS.served",
        timeout=120,
        fetcher=fetcher,
    ) as image:
        extract_root_image(image, ctx.target_root, ctx.runner)


@install_hook(order=20)
def install_applets(ctx: BuildContext) -> None:
    ctx.chroot.run(["/bin/busybox", "--install", "-s", "/bin"])
'''


def root_tarball() -> bytes:
    """A tiny root tree (static busybox and a few folders) as a .tar.gz."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for folder in ("bin", "etc", "proc", "sys", "dev", "tmp", "root"):
            info = tarfile.TarInfo(f"./{folder}")
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if folder == "tmp" else 0o755
            tar.addfile(info)
        tar.add("/bin/busybox", arcname="./bin/busybox")
        release = b'NAME="served"\n'
        info = tarfile.TarInfo("./etc/os-release")
        info.size = len(release)
        tar.addfile(info, io.BytesIO(release))
    return buffer.getvalue()


TARBALL = root_tarball()
SUMS = f"{hashlib.sha256(TARBALL).hexdigest()}  {TARBALL_NAME}\n".encode()


class Mirror:
    """Serves the tarball and SHA256SUMS; ``mode`` says how the tarball is answered."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.delay = 0.0
        self.tarball_bodies = 0
        self.requests: list[str] = []
        self._lock = threading.Lock()
        self.server = RawServer(self.answer)

    def answer(self, handler: BaseHTTPRequestHandler, number: int) -> None:
        with self._lock:
            self.requests.append(f"{handler.path} {handler.headers.get('If-Modified-Since')}")
        if handler.path.endswith("/SHA256SUMS"):
            send_full(handler, SUMS)
            return
        if not handler.path.endswith(f"/{TARBALL_NAME}"):
            handler.send_error(404)
            return
        since = handler.headers.get("If-Modified-Since")
        if since and email.utils.parsedate_to_datetime(since).timestamp() >= LAST_MODIFIED:
            handler.send_response(304)  # as a mirror does: the cached copy is current
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        if self.mode == "500":
            handler.send_error(500)
        elif self.mode == "drop":
            send_truncated(handler, TARBALL, len(TARBALL) // 3)
        elif self.mode == "stall":
            handler.send_response(200)
            handler.send_header("Content-Length", str(len(TARBALL)))
            handler.end_headers()
            handler.wfile.write(TARBALL[:1000])
            handler.wfile.flush()
            self.server.stop.wait(20)
        else:
            time.sleep(self.delay)  # keeps the first download going while the others ask
            with self._lock:
                self.tarball_bodies += 1
            handler.send_response(200)
            handler.send_header("Content-Length", str(len(TARBALL)))
            handler.send_header("Last-Modified", email.utils.formatdate(LAST_MODIFIED, usegmt=True))
            handler.end_headers()
            handler.wfile.write(TARBALL)

    @property
    def base(self) -> str:
        return self.server.url("/mirror")


@pytest.fixture
def mirror() -> Iterator[Mirror]:
    served = Mirror()
    with served.server:
        yield served


@pytest.fixture
def elements(tmp_path: Path) -> Path:
    directory = tmp_path / "elements"
    make_element(directory, "served-os", SERVED_OS)
    return directory


def build_argv(out: Path, elements: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "dibpy",
        "build",
        "-n",
        "-t",
        "tar",
        "-o",
        str(out),
        f"--element-path={elements}",
        "served-os",
    ]


def env_for(base: Path, cache: Path, mirror: Mirror) -> dict[str, str]:
    return clean_env(base, DIB_IMAGE_CACHE=str(cache), SERVED_BASE_URL=mirror.base)


def build(
    base: Path, cache: Path, elements: Path, mirror: Mirror
) -> subprocess.CompletedProcess[str]:
    base.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        build_argv(base / "out", elements),
        cwd=base,
        env=env_for(base, cache, mirror),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def cache_names(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir())


GOOD_CACHE = sorted(
    [TARBALL_NAME, f"{TARBALL_NAME}.lock", "SHA256SUMS.served", "SHA256SUMS.served.lock"]
)


def assert_cache_holds_the_tarball(cache: Path) -> None:
    names = cache_names(cache)
    assert [n for n in names if n not in GOOD_CACHE] == []  # no .part, nothing else
    assert (cache / TARBALL_NAME).read_bytes() == TARBALL
    assert (cache / "SHA256SUMS.served").read_bytes() == SUMS
    for path in cache.iterdir():  # sane permissions: readable, writable by the owner only
        assert not path.is_symlink(), path
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


# --- concurrency -------------------------------------------------------------------------


def test_four_builds_at_once_download_once(tmp_path: Path, elements: Path, mirror: Mirror) -> None:
    mirror.delay = 0.5  # below the read timeout (1 s) of served-os
    cache = tmp_path / "cache"
    procs = []
    for n in range(4):
        base = tmp_path / f"build{n}"
        base.mkdir()
        procs.append(
            subprocess.Popen(
                build_argv(base / "out", elements),
                cwd=base,
                env=env_for(base, cache, mirror),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    results = [proc.communicate(timeout=300) for proc in procs]
    for proc, (_, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
    assert mirror.tarball_bodies == 1, (mirror.requests, [e[-3000:] for _, e in results])
    waited = [err for _, err in results if "another build is fetching" in err]
    assert waited, "no build waited for the lock: the builds did not overlap"
    assert_cache_holds_the_tarball(cache)
    for n in range(4):
        base = tmp_path / f"build{n}"
        with tarfile.open(base / "out.tar") as tar:
            names = tar.getnames()
        assert "./bin/busybox" in names and "./bin/sh" in names
        assert build_dirs(base / "tmp") == []
    assert mount_lines(tmp_path) == []


# --- download faults during a build ------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "says"),
    [
        ("drop", "the connection was dropped"),
        ("500", "HTTP 500"),
        ("stall", "the server stalled"),
    ],
)
def test_a_download_fault_fails_the_build_and_leaves_no_partial_file(
    tmp_path: Path, elements: Path, mirror: Mirror, mode: str, says: str
) -> None:
    cache = tmp_path / "cache"
    mirror.mode = mode
    done = build(tmp_path / "faulty", cache, elements, mirror)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    error = " ".join(done.stderr[done.stderr.index("dibpy: error:") :].split())
    assert "The root phase failed in hook 'fetch_root' of element 'served-os'" in error
    assert f"Could not download {mirror.base}/{TARBALL_NAME}" in error
    assert says in error, error
    assert [n for n in cache_names(cache) if n.endswith(".part")] == []
    assert not (cache / TARBALL_NAME).exists()
    assert not (tmp_path / "faulty" / "out.tar").exists()
    assert build_dirs(tmp_path / "faulty" / "tmp") == []
    assert mount_lines(tmp_path) == []

    mirror.mode = "ok"
    again = build(tmp_path / "next", cache, elements, mirror)
    assert again.returncode == 0, again.stderr
    assert_cache_holds_the_tarball(cache)
    assert mirror.tarball_bodies == 1


def test_a_corrupt_cached_tarball_is_replaced(
    tmp_path: Path, elements: Path, mirror: Mirror
) -> None:
    """A tarball in the cache that does not match its sums (a disk error, a previous tool)
    is downloaded again, not used."""
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / TARBALL_NAME).write_bytes(TARBALL[:-10] + b"0123456789")
    os.utime(cache / TARBALL_NAME, (2_000_000_000, 2_000_000_000))  # newer than the server's
    done = build(tmp_path / "b", cache, elements, mirror)
    assert done.returncode == 0, done.stderr
    assert_cache_holds_the_tarball(cache)


# --- symlinks planted in the cache -------------------------------------------------------


@pytest.mark.parametrize("planted", [TARBALL_NAME, "SHA256SUMS.served"])
def test_a_symlink_planted_in_the_cache_is_replaced_not_written_through(
    tmp_path: Path, elements: Path, mirror: Mirror, planted: str
) -> None:
    """Someone with write access to a shared cache points a cache file at a file of the
    host; the download replaces the link and never writes into its target."""
    cache = tmp_path / "cache"
    cache.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (cache / planted).symlink_to(victim)
    done = build(tmp_path / "b", cache, elements, mirror)
    assert victim.read_text() == "precious\n"
    assert done.returncode == 0, done.stderr
    assert_cache_holds_the_tarball(cache)
    assert not (cache / TARBALL_NAME).is_symlink()
    assert not (cache / "SHA256SUMS.served").is_symlink()
    assert oct((cache / TARBALL_NAME).stat().st_mode & 0o777) == oct(0o644)


def test_a_symlink_planted_as_the_cache_lock_is_refused(
    tmp_path: Path, elements: Path, mirror: Mirror
) -> None:
    """A lock file that is a link is not followed (filelock opens it with O_NOFOLLOW); the
    build stops with a message naming the link."""
    cache = tmp_path / "cache"
    cache.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    lock = cache / f"{TARBALL_NAME}.lock"
    lock.symlink_to(victim)
    done = build(tmp_path / "b", cache, elements, mirror)
    assert victim.read_text() == "precious\n"
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    error = " ".join(done.stderr[done.stderr.index("dibpy: error:") :].split())
    assert f"The cache lock {lock} is a symbolic link" in error
    assert "'fetch_root' of element 'served-os'" in error
    assert build_dirs(tmp_path / "b" / "tmp") == []


# --- proxy credentials -------------------------------------------------------------------

PASSWORD = "s3cr3t-Pa55"


@pytest.mark.parametrize("debug", [False, True], ids=["default", "debug"])
def test_proxy_credentials_never_reach_the_output_or_the_log(
    tmp_path: Path, elements: Path, mirror: Mirror, debug: bool
) -> None:
    """A build whose downloads go through a proxy that is down: the error names the proxy,
    its password masked, and neither the terminal nor the log file (nor --debug's
    traceback, nor the manifest) holds the password."""
    proxy = f"http://builder:{PASSWORD}@127.0.0.1:{closed_port()}"
    env = env_for(tmp_path, tmp_path / "cache", mirror)
    env.update(http_proxy=proxy, HTTPS_PROXY=proxy)
    log_file = tmp_path / "build.log"
    argv = build_argv(tmp_path / "out", elements)
    argv[3:3] = ["--debug"] if debug else []
    argv += ["--log-file", str(log_file)]
    done = subprocess.run(
        argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 1, done.stderr
    assert "builder:***@127.0.0.1" in done.stderr
    assert ("Traceback" in done.stderr) == debug
    everything = done.stdout + done.stderr + log_file.read_text()
    everything += "".join(p.read_text() for p in tmp_path.glob("*.json"))
    assert PASSWORD not in everything
    assert mirror.requests == []  # it went to the proxy, not around it
