"""dibpy.host.fetch against real HTTP servers on 127.0.0.1 (no mocks of httpx)."""

from __future__ import annotations

import hashlib
import logging
import os
import ssl
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from fetch_helpers import (
    LAST_MODIFIED,
    RawServer,
    Upstream,
    closed_port,
    send_full,
    send_truncated,
)
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

import dibpy.redact
from dibpy.errors import BuildError
from dibpy.host.cache import LockTimeoutError, lock_file
from dibpy.host.checksums import (
    ChecksumMismatchError,
    expected_sha256,
    fetch_verified,
    sha256_file,
)
from dibpy.host.fetch import (
    Fetcher,
    FetchError,
    FetchOutcome,
    NotFoundError,
    OfflineError,
    redact_url,
    remote_name,
)

REPO = Path(__file__).resolve().parents[1]
NO_CACHE = "no-cache, must-revalidate"
IMAGE = b"pretend this is a cloud image\n" * 1000
FAST = Fetcher(backoff=0.01, retries=2, connect_timeout=2.0, read_timeout=5.0)


def leftovers(directory: Path) -> list[str]:
    """Temporary download files left in a cache directory."""
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".part"))


def serve(httpserver: HTTPServer, path: str, upstream: Upstream) -> str:
    httpserver.expect_request(path).respond_with_handler(upstream.handler)
    return str(httpserver.url_for(path))


def sums_for(name: str, data: bytes) -> bytes:
    other = hashlib.sha256(b"other").hexdigest()
    return (f"{other} *other.img\n{hashlib.sha256(data).hexdigest()} *{name}\n").encode()


# --- fetch: the cache-url cases -----------------------------------------------------------------


def test_first_fetch_downloads_and_stamps_last_modified(
    httpserver: HTTPServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "dibpy.host.fetch")
    upstream = Upstream(IMAGE)
    url = serve(httpserver, "/img", upstream)
    dest = tmp_path / "cache" / "sub" / "img"  # the directory does not exist yet

    assert FAST.fetch(url, dest) is FetchOutcome.DOWNLOADED

    assert dest.read_bytes() == IMAGE
    assert dest.stat().st_mtime == LAST_MODIFIED
    assert "If-Modified-Since" not in upstream.requests[0]
    assert upstream.requests[0].get("Accept-Encoding") == "identity"
    assert "Downloaded and cached" in caplog.text and "for the first time" in caplog.text
    assert leftovers(dest.parent) == []


def test_second_fetch_is_conditional_and_keeps_the_cache(
    httpserver: HTTPServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "dibpy.host.fetch")
    upstream = Upstream(IMAGE)
    url = serve(httpserver, "/img", upstream)
    dest = tmp_path / "img"
    FAST.fetch(url, dest)
    inode = dest.stat().st_ino

    assert FAST.fetch(url, dest) is FetchOutcome.NOT_MODIFIED

    assert len(upstream.requests) == 2
    assert "If-Modified-Since" in upstream.requests[1]
    assert upstream.full_bodies_sent == 1
    assert dest.read_bytes() == IMAGE
    assert dest.stat().st_ino == inode  # not even rewritten
    assert "Server copy has not changed. Using locally cached" in caplog.text


def test_changed_upstream_replaces_the_cache(
    httpserver: HTTPServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "dibpy.host.fetch")
    upstream = Upstream(b"old release")
    url = serve(httpserver, "/img", upstream)
    dest = tmp_path / "img"
    FAST.fetch(url, dest)
    upstream.body = b"new release"
    upstream.last_modified = LAST_MODIFIED + 3600

    outcome = FAST.fetch(url, dest)

    assert outcome is FetchOutcome.CHANGED and outcome.replaced
    assert "If-Modified-Since" in upstream.requests[1]
    assert dest.read_bytes() == b"new release"
    assert dest.stat().st_mtime == LAST_MODIFIED + 3600
    assert "Server copy has changed" in caplog.text


def test_empty_200_on_a_conditional_request_keeps_the_cache(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    upstream = Upstream(IMAGE)
    url = serve(httpserver, "/img", upstream)
    dest = tmp_path / "img"
    FAST.fetch(url, dest)
    upstream.empty_on_conditional = True

    assert FAST.fetch(url, dest) is FetchOutcome.KEPT_CACHED

    assert "If-Modified-Since" in upstream.requests[1]
    assert dest.read_bytes() == IMAGE
    assert leftovers(tmp_path) == []


def test_force_asks_caches_to_revalidate(
    httpserver: HTTPServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "dibpy.host.fetch")
    upstream = Upstream(b"fresh")
    url = serve(httpserver, "/img", upstream)
    dest = tmp_path / "img"
    dest.write_bytes(b"stale")

    assert FAST.fetch(url, dest, force=True) is FetchOutcome.FORCED

    seen = upstream.requests[0]
    assert seen.get("Cache-Control") == NO_CACHE
    assert seen.get("Pragma") == NO_CACHE
    assert "If-Modified-Since" not in seen
    assert dest.read_bytes() == b"fresh"
    assert "having forced upstream caches to revalidate" in caplog.text


def test_redirects_are_followed(httpserver: HTTPServer, tmp_path: Path) -> None:
    target = serve(httpserver, "/real", Upstream(b"moved"))
    httpserver.expect_request("/old").respond_with_response(
        Response(status=302, headers={"Location": target})
    )
    dest = tmp_path / "img"
    assert FAST.fetch(httpserver.url_for("/old"), dest) is FetchOutcome.DOWNLOADED
    assert dest.read_bytes() == b"moved"


def test_progress_is_reported(httpserver: HTTPServer, tmp_path: Path) -> None:
    url = serve(httpserver, "/img", Upstream(IMAGE))
    seen: list[tuple[str, int, int | None]] = []
    fetcher = Fetcher(on_progress=lambda u, done, total: seen.append((u, done, total)))
    fetcher.fetch(url, tmp_path / "img")
    assert seen[0] == (url, 0, len(IMAGE))
    assert seen[-1] == (url, len(IMAGE), len(IMAGE))


def test_interrupt_mid_body_leaves_no_partial_file(httpserver: HTTPServer, tmp_path: Path) -> None:
    url = serve(httpserver, "/img", Upstream(IMAGE))

    def interrupt(url: str, done: int, total: int | None) -> None:
        if done > 0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Fetcher(on_progress=interrupt).fetch(url, tmp_path / "img")
    assert list(tmp_path.iterdir()) == []


# --- fetch: failures ----------------------------------------------------------------------------


def test_404_raises_not_found_with_the_url(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request("/missing.img").respond_with_data("nope", status=404)
    url = httpserver.url_for("/missing.img")

    with pytest.raises(NotFoundError) as info:
        FAST.fetch(url, tmp_path / "missing.img")

    assert url in str(info.value) and "not found" in str(info.value)
    assert isinstance(info.value, BuildError)
    assert len(httpserver.log) == 1  # a 404 is not retried
    assert list(tmp_path.iterdir()) == []


def test_other_4xx_raises_with_the_status_and_no_retry(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    httpserver.expect_request("/secret").respond_with_data("no", status=403)
    with pytest.raises(FetchError, match="403") as info:
        FAST.fetch(httpserver.url_for("/secret"), tmp_path / "secret")
    assert not isinstance(info.value, NotFoundError)
    assert len(httpserver.log) == 1


def test_server_down_fails_after_retries(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/img"
    dest = tmp_path / "cache" / "img"
    dest.parent.mkdir()
    fetcher = Fetcher(retries=2, backoff=0.01, connect_timeout=1.0)

    with pytest.raises(FetchError, match="3 attempts") as info:
        fetcher.fetch(url, dest)

    assert url in str(info.value)
    assert list(dest.parent.iterdir()) == []


def test_5xx_is_retried_until_it_succeeds(httpserver: HTTPServer, tmp_path: Path) -> None:
    calls = 0

    def flaky(request: Request) -> Response:
        nonlocal calls
        calls += 1
        if calls <= 2:
            return Response("busy", status=503)
        return Response(IMAGE, status=200)

    httpserver.expect_request("/img").respond_with_handler(flaky)
    dest = tmp_path / "img"

    assert FAST.fetch(httpserver.url_for("/img"), dest) is FetchOutcome.DOWNLOADED

    assert calls == 3
    assert dest.read_bytes() == IMAGE


def test_5xx_forever_gives_up_with_the_status(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request("/img").respond_with_data("broken", status=500)
    with pytest.raises(FetchError, match="HTTP 500"):
        FAST.fetch(httpserver.url_for("/img"), tmp_path / "img")
    assert len(httpserver.log) == FAST.retries + 1


def test_connection_dropped_mid_body_is_retried(tmp_path: Path) -> None:
    def behaviour(handler: BaseHTTPRequestHandler, number: int) -> None:
        if number == 1:
            send_truncated(handler, IMAGE, 1000)
        else:
            send_full(handler, IMAGE)

    dest = tmp_path / "img"
    with RawServer(behaviour) as server:
        assert FAST.fetch(server.url(), dest) is FetchOutcome.DOWNLOADED
        assert server.count == 2
    assert dest.read_bytes() == IMAGE
    assert leftovers(tmp_path) == []


def test_connection_always_dropped_keeps_the_old_cache_and_no_partial_file(
    tmp_path: Path,
) -> None:
    dest = tmp_path / "img"
    dest.write_bytes(b"the old, complete file")

    with RawServer(lambda handler, number: send_truncated(handler, IMAGE, 5000)) as server:
        with pytest.raises(FetchError, match="3 attempts"):
            FAST.fetch(server.url(), dest, force=True)
        assert server.count == 3

    assert dest.read_bytes() == b"the old, complete file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img"]


def test_stalled_server_fails_after_the_read_timeout(tmp_path: Path) -> None:
    def stall(handler: BaseHTTPRequestHandler, number: int) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(IMAGE)))
        handler.end_headers()
        handler.wfile.write(IMAGE[:100])
        handler.wfile.flush()
        server.stop.wait(10)

    fetcher = Fetcher(read_timeout=0.3, retries=1, backoff=0.01)
    with RawServer(stall) as server:
        started = time.monotonic()
        with pytest.raises(FetchError, match="stalled"):
            fetcher.fetch(server.url(), tmp_path / "img")
        elapsed = time.monotonic() - started
        assert server.count == 2
    assert elapsed < 3
    assert list(tmp_path.iterdir()) == []


def test_unsupported_scheme_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="only http"):
        FAST.fetch("ftp://example.invalid/img", tmp_path / "img")


# --- offline ------------------------------------------------------------------------------------


def test_offline_with_cache_makes_no_request(
    httpserver: HTTPServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "dibpy.host.fetch")
    url = serve(httpserver, "/img", Upstream(b"new"))
    dest = tmp_path / "img"
    dest.write_bytes(b"cached")

    assert Fetcher(offline=True).fetch(url, dest) is FetchOutcome.OFFLINE_CACHED

    assert httpserver.log == []
    assert dest.read_bytes() == b"cached"
    assert f"Not checking freshness of cached {dest}" in caplog.text


def test_offline_without_cache_raises(httpserver: HTTPServer, tmp_path: Path) -> None:
    url = serve(httpserver, "/img", Upstream(b"new"))
    dest = tmp_path / "img"
    with pytest.raises(OfflineError, match="DIB_OFFLINE") as info:
        Fetcher(offline=True).fetch(url, dest)
    assert str(dest) in str(info.value)
    assert httpserver.log == []


# --- file:// ------------------------------------------------------------------------------------


def test_file_url_is_copied_atomically_and_then_reused(tmp_path: Path) -> None:
    source = tmp_path / "mirror" / "my image.qcow2"
    source.parent.mkdir()
    source.write_bytes(IMAGE)
    url = source.as_uri()  # file:///.../my%20image.qcow2
    dest = tmp_path / "cache" / "img"

    assert FAST.fetch(url, dest) is FetchOutcome.DOWNLOADED
    assert dest.read_bytes() == IMAGE
    assert FAST.fetch(url, dest) is FetchOutcome.NOT_MODIFIED

    source.write_bytes(b"updated")
    assert FAST.fetch(url, dest) is FetchOutcome.CHANGED
    assert dest.read_bytes() == b"updated"
    assert leftovers(dest.parent) == []

    with pytest.raises(NotFoundError, match="not found"):
        FAST.fetch((tmp_path / "absent").as_uri(), tmp_path / "cache" / "absent")


# --- proxies ------------------------------------------------------------------------------------


def test_proxy_password_is_never_logged(
    httpserver: HTTPServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, httpx and httpcore included
    proxy = f"http://builder:s3cr3t-pa55@127.0.0.1:{closed_port()}"
    fetcher = Fetcher(proxies={"http": proxy}, retries=1, backoff=0.01)

    with pytest.raises(FetchError) as info:
        fetcher.fetch(httpserver.url_for("/img"), tmp_path / "img")

    assert "s3cr3t-pa55" not in caplog.text
    assert "s3cr3t-pa55" not in str(info.value)
    assert "builder:***@127.0.0.1" in caplog.text  # the proxy is logged, redacted
    assert httpserver.log == []  # it really went to the (dead) proxy


def test_no_proxy_bypasses_the_proxy(httpserver: HTTPServer, tmp_path: Path) -> None:
    url = serve(httpserver, "/img", Upstream(b"direct"))
    proxy = f"http://127.0.0.1:{closed_port()}"
    assert url.startswith("http://localhost:")
    fetcher = Fetcher(proxies={"http": proxy}, no_proxy="example.com, localhost", retries=0)
    assert fetcher.fetch(url, tmp_path / "img") is FetchOutcome.DOWNLOADED
    with pytest.raises(FetchError, match="proxy"):  # without no_proxy it goes to the proxy
        Fetcher(proxies={"http": proxy}, retries=0).fetch(url, tmp_path / "img2")


def test_environment_proxies_are_ignored(
    httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = f"http://127.0.0.1:{closed_port()}"
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, dead)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    url = serve(httpserver, "/img", Upstream(b"direct"))
    assert Fetcher(retries=0).fetch(url, tmp_path / "img") is FetchOutcome.DOWNLOADED


def test_redact_url() -> None:
    assert redact_url("http://u:p%40ss@proxy:3128/") == "http://u:***@proxy:3128/"
    assert redact_url("http://proxy:3128") == "http://proxy:3128"
    # the one redactor of dibpy.redact: URLs inside any text too (error messages, output)
    assert redact_url is dibpy.redact.redact_url
    assert redact_url("407 from http://u:pw@p:3128 for https://a:b@h/f") == (
        "407 from http://u:***@p:3128 for https://a:***@h/f"
    )


# --- checksums ----------------------------------------------------------------------------------


def test_sums_parsing(tmp_path: Path) -> None:
    data = b"abc"
    digest = hashlib.sha256(data).hexdigest()
    sums = tmp_path / "SHA256SUMS"
    sums.write_text(
        f"{'0' * 64}  noble.img\n"
        f"{digest.upper()} *jammy-server-cloudimg-amd64.img\n"
        f"{digest}  ./plain.tar.gz\r\n"
        f"SHA256 (bsd.img) = {digest}\n"
    )
    assert expected_sha256(sums, "jammy-server-cloudimg-amd64.img") == digest
    assert expected_sha256(sums, "plain.tar.gz") == digest
    assert expected_sha256(sums, "bsd.img") == digest
    assert expected_sha256(sums, "noble.img") == "0" * 64
    with pytest.raises(ChecksumMismatchError, match=r"no SHA-256 line for jammy\.img") as info:
        expected_sha256(sums, "jammy.img")
    assert str(sums) in str(info.value)

    file = tmp_path / "data"
    file.write_bytes(data)
    assert sha256_file(file) == digest
    assert remote_name("https://m/releases/jammy/disk%20one.img?x=1") == "disk one.img"


def test_fetch_verified_good_path(httpserver: HTTPServer, tmp_path: Path) -> None:
    name = "jammy-server-cloudimg-amd64.squashfs"
    image = Upstream(IMAGE)
    sums = Upstream(sums_for(name, IMAGE))
    url = serve(httpserver, f"/jammy/{name}", image)
    sums_url = serve(httpserver, "/jammy/SHA256SUMS", sums)
    # The cache names differ from the remote name: the line is found by the remote name.
    dest = tmp_path / "ubuntu-jammy-amd64.squashfs"
    sums_dest = tmp_path / "ubuntu-jammy-amd64.squashfs.SHA256SUMS"

    assert fetch_verified(FAST, url, dest, sums_url, sums_dest) is FetchOutcome.DOWNLOADED
    assert dest.read_bytes() == IMAGE
    assert image.full_bodies_sent == sums.full_bodies_sent == 1

    # A second build revalidates both and downloads nothing.
    assert fetch_verified(FAST, url, dest, sums_url, sums_dest) is FetchOutcome.NOT_MODIFIED
    assert image.full_bodies_sent == sums.full_bodies_sent == 1


def test_fetch_verified_stale_sums_are_refetched_with_cache_busting(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    """A proxy serves yesterday's SHA256SUMS unless told to revalidate."""
    name = "noble.img"

    def sums_body(request: Request) -> bytes:
        if request.headers.get("Cache-Control") == NO_CACHE:
            return sums_for(name, IMAGE)
        return sums_for(name, b"yesterday's image")

    image = Upstream(IMAGE)
    sums = Upstream(b"", body_for=sums_body)
    url = serve(httpserver, f"/{name}", image)
    sums_url = serve(httpserver, "/SHA256SUMS", sums)
    dest, sums_dest = tmp_path / name, tmp_path / "SHA256SUMS"

    assert fetch_verified(FAST, url, dest, sums_url, sums_dest) is FetchOutcome.DOWNLOADED

    assert [r.get("Cache-Control") for r in sums.requests] == [None, NO_CACHE]
    assert [r.get("Pragma") for r in sums.requests] == [None, NO_CACHE]
    assert image.full_bodies_sent == 1  # the big file was not downloaded twice
    assert dest.read_bytes() == IMAGE


def test_fetch_verified_stale_image_is_refetched_with_cache_busting(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    """A proxy serves a stale image unless told to revalidate."""
    name = "noble.img"

    def image_body(request: Request) -> bytes:
        return IMAGE if request.headers.get("Cache-Control") == NO_CACHE else b"stale"

    image = Upstream(b"", body_for=image_body)
    sums = Upstream(sums_for(name, IMAGE))
    url = serve(httpserver, f"/{name}", image)
    sums_url = serve(httpserver, "/SHA256SUMS", sums)
    dest, sums_dest = tmp_path / name, tmp_path / "SHA256SUMS"

    assert fetch_verified(FAST, url, dest, sums_url, sums_dest) is FetchOutcome.FORCED

    assert [r.get("Cache-Control") for r in image.requests] == [None, NO_CACHE]
    assert dest.read_bytes() == IMAGE


def test_fetch_verified_permanent_mismatch_removes_the_image(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    name = "noble.img"
    image = Upstream(b"corrupt bytes")
    sums = Upstream(sums_for(name, IMAGE))
    url = serve(httpserver, f"/{name}", image)
    sums_url = serve(httpserver, "/SHA256SUMS", sums)
    dest, sums_dest = tmp_path / name, tmp_path / "SHA256SUMS"

    with pytest.raises(ChecksumMismatchError) as info:
        fetch_verified(FAST, url, dest, sums_url, sums_dest)

    error = info.value
    message = str(error)
    expected = hashlib.sha256(IMAGE).hexdigest()
    actual = hashlib.sha256(b"corrupt bytes").hexdigest()
    assert (error.expected, error.actual, error.path) == (expected, actual, dest)
    for part in (str(dest), expected, actual, sums_url):
        assert part in message
    assert not dest.exists()
    assert leftovers(tmp_path) == []
    assert [r.get("Cache-Control") for r in image.requests] == [None, NO_CACHE]


def test_fetch_verified_unlisted_file_is_an_error(httpserver: HTTPServer, tmp_path: Path) -> None:
    url = serve(httpserver, "/noble.img", Upstream(IMAGE))
    sums_url = serve(httpserver, "/SHA256SUMS", Upstream(sums_for("jammy.img", IMAGE)))
    dest = tmp_path / "noble.img"
    with pytest.raises(ChecksumMismatchError, match=r"no SHA-256 line for noble\.img"):
        fetch_verified(FAST, url, dest, sums_url, tmp_path / "SHA256SUMS")
    assert not dest.exists()


def test_fetch_verified_offline_uses_the_cache_unverified(
    httpserver: HTTPServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "dibpy.host.fetch")
    dest = tmp_path / "noble.img"
    dest.write_bytes(b"whatever was cached")
    fetcher = Fetcher(offline=True)

    outcome = fetch_verified(
        fetcher,
        httpserver.url_for("/noble.img"),
        dest,
        httpserver.url_for("/SHA256SUMS"),
        tmp_path / "S",
    )

    assert outcome is FetchOutcome.OFFLINE_CACHED
    assert httpserver.log == []
    assert "Not checking freshness or checksum" in caplog.text


# --- locking ------------------------------------------------------------------------------------


def test_lock_file_timeout_names_the_lock_file(tmp_path: Path) -> None:
    target = tmp_path / "img"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, pathlib\n"
            "from dibpy.host.cache import lock_file\n"
            "with lock_file(pathlib.Path(sys.argv[1])):\n"
            "    print('held', flush=True)\n"
            "    sys.stdin.read()\n",
            str(target),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        started = time.monotonic()
        with pytest.raises(LockTimeoutError) as info, lock_file(target, timeout=0.2):
            pass
        assert time.monotonic() - started < 2
        assert f"{target}.lock" in str(info.value)
        assert "0.2 seconds" in str(info.value)
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(10)
    with lock_file(target, timeout=0.2) as lock_path:  # free again once the holder is gone
        assert lock_path == Path(f"{target}.lock")


FETCH_UNDER_LOCK = textwrap.dedent(
    """
    import sys, pathlib
    from dibpy.host.cache import lock_file
    from dibpy.host.fetch import Fetcher
    url, dest = sys.argv[1], pathlib.Path(sys.argv[2])
    print("ready", flush=True)
    sys.stdin.readline()
    with lock_file(dest, timeout=30):
        print(Fetcher(backoff=0.01).fetch(url, dest).name, flush=True)
    """
)


def test_two_processes_share_one_download(httpserver: HTTPServer, tmp_path: Path) -> None:
    upstream = Upstream(IMAGE)

    def slow(request: Request) -> Response:
        time.sleep(0.5)  # the first download is still running when the second one asks
        return upstream.handler(request)

    httpserver.expect_request("/img").respond_with_handler(slow)
    dest = tmp_path / "cache" / "img"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", FETCH_UNDER_LOCK, httpserver.url_for("/img"), str(dest)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        for _ in range(2)
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    for proc in procs:  # both go at once
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    outcomes = sorted(proc.communicate(timeout=30)[0].strip() for proc in procs)

    assert [proc.returncode for proc in procs] == [0, 0]
    assert outcomes == ["DOWNLOADED", "NOT_MODIFIED"]
    assert upstream.full_bodies_sent == 1
    assert len(upstream.requests) == 2
    assert dest.read_bytes() == IMAGE


# --- TLS ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that no trust store knows, and its key (made by openssl)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def https_server(self_signed: tuple[Path, Path]) -> Iterator[RawServer]:
    cert, key = self_signed
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = RawServer(lambda handler, number: send_full(handler, IMAGE))
    server.server.socket = context.wrap_socket(server.server.socket, server_side=True)
    with server:
        yield server


def test_https_certificates_are_verified_by_default(
    https_server: RawServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = https_server.url().replace("http://", "https://")
    with pytest.raises(FetchError) as info:
        FAST.fetch(url, tmp_path / "img")
    assert "CERTIFICATE_VERIFY_FAILED" in str(info.value)
    assert "certificate could not be verified" in str(info.value)
    assert url in str(info.value)
    assert "retrying" not in caplog.text  # another attempt cannot fix a certificate
    assert list(tmp_path.iterdir()) == []


def test_https_with_a_trusted_certificate_downloads(
    https_server: RawServer,
    self_signed: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The control: the same server, its certificate trusted (as a host's corporate CA is,
    through OpenSSL's SSL_CERT_FILE), serves the file; so the failure above was the check."""
    monkeypatch.setenv("SSL_CERT_FILE", str(self_signed[0]))
    url = https_server.url().replace("http://", "https://")
    assert FAST.fetch(url, tmp_path / "img") is FetchOutcome.DOWNLOADED
    assert (tmp_path / "img").read_bytes() == IMAGE
