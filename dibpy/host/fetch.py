"""HTTP (and ``file://``) downloads: DIB's ``cache-url``.

Every download of dibpy goes through :class:`Fetcher`:

* ``fetch`` keeps a cached copy fresh with a conditional GET (``If-Modified-Since``), retries
  transient failures with exponential back-off, and places the file atomically, so the cache
  never holds a partial download, whatever goes wrong (even Ctrl-C);
* ``force`` busts upstream caches (``dibpy.host.checksums`` uses it when a download does
  not match its published SHA-256).

Where a download goes in the image cache, and the locks around it, are the business of
:mod:`dibpy.host.cache`, whose areas use this module for the HTTP.

Proxies come only from the :class:`Fetcher` fields (the build decides them once); the
process environment (``http_proxy``, ``SSL_CERT_FILE`` ...) is never read here.
"""

from __future__ import annotations

import email.utils
import enum
import ipaddress
import logging
import os
import ssl
import tempfile
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import BinaryIO
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import httpx

from dibpy.errors import BuildError, SettingsError
from dibpy.redact import redact_url

log = logging.getLogger("dibpy.host.fetch")

CHUNK_SIZE = 1 << 16
ProgressCallback = Callable[[str, int, int | None], None]


# --- errors -----------------------------------------------------------------------------------


class FetchError(BuildError):
    """A download failed; ``url`` is what was asked for (any password masked)."""

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url


class NotFoundError(FetchError):
    """The server (or the file system, for ``file://``) has no such file."""


class OfflineError(FetchError):
    """Offline mode was asked for, but the file is not in the cache."""


# --- outcome ----------------------------------------------------------------------------------


class FetchOutcome(enum.Enum):
    """What ``fetch`` did to the cached file."""

    DOWNLOADED = "downloaded"
    """Nothing usable was cached; the file was downloaded."""
    CHANGED = "changed"
    """The cached copy was stale; the server's newer copy replaced it."""
    NOT_MODIFIED = "not-modified"
    """The server said the cached copy is current (304, or same file for ``file://``)."""
    KEPT_CACHED = "kept-cached"
    """The server ignored the condition and sent an empty 200; the cached copy was kept."""
    FORCED = "forced"
    """Downloaded again with upstream caches told to revalidate (``force=True``)."""
    OFFLINE_CACHED = "offline-cached"
    """Offline: the cached copy was used without looking at the network."""

    @property
    def replaced(self) -> bool:
        """Whether the file at ``dest`` was (re)written, e.g. so a caller re-extracts it."""
        return self in (FetchOutcome.DOWNLOADED, FetchOutcome.CHANGED, FetchOutcome.FORCED)


# --- helpers ----------------------------------------------------------------------------------


def remote_name(url: str) -> str:
    """The file name ``url`` points at: the last segment of its path, unquoted."""
    name = PurePosixPath(unquote(urlsplit(url).path)).name
    if not name:
        raise FetchError(
            f"The URL {redact_url(url)} does not end in a file name, so its line in a sums "
            "file cannot be found. Give the URL of the file itself.",
            url=redact_url(url),
        )
    return name


class _PartFile:
    """A hidden temporary file beside ``dest`` that becomes ``dest`` only on :meth:`commit`.

    Used as a context manager: leaving the block without a commit (an exception, a
    KeyboardInterrupt, a deliberate discard) removes the temporary file.
    """

    def __init__(self, dest: Path) -> None:
        self.dest = dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
        self.path = Path(name)
        self.file: BinaryIO = os.fdopen(fd, "wb")
        self.size = 0
        self.done = False

    def write(self, chunk: bytes) -> None:
        self.file.write(chunk)
        self.size += len(chunk)

    def commit(self, mtime_ns: int | None = None) -> None:
        """fsync, set the modification time, and rename over ``dest`` (atomic)."""
        self.file.flush()
        os.fsync(self.file.fileno())
        os.fchmod(self.file.fileno(), 0o644)
        self.file.close()
        if mtime_ns is not None:
            os.utime(self.path, ns=(time.time_ns(), mtime_ns))
        os.replace(self.path, self.dest)
        self.done = True
        dir_fd = os.open(self.dest.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def __enter__(self) -> _PartFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self.done:
            self.file.close()
            self.path.unlink(missing_ok=True)


class _Retry(Exception):
    """One attempt failed in a way that another attempt may fix."""


def _http_date_ns(value: str | None) -> int | None:
    if not value:
        return None
    try:
        return int(email.utils.parsedate_to_datetime(value).timestamp()) * 1_000_000_000
    except (TypeError, ValueError, OverflowError):
        return None


def _nonempty_file(path: Path) -> bool:
    try:
        return path.is_file() and path.stat().st_size > 0
    except OSError:
        return False


# --- the fetcher ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fetcher:
    """Downloads URLs into the image cache.

    ``proxies`` maps a scheme (``http``, ``https`` or ``all``) to a proxy URL, which may carry
    ``user:password@`` (the password is never logged). ``no_proxy`` is a comma-separated list
    as in ``NO_PROXY``: host names (``example.com`` also covers its sub-domains, ``.example.com``
    only the sub-domains), IP addresses, ``localhost``, or ``*`` for no proxy at all; network
    ranges (``10.0.0.0/8``) are not supported by httpx and are ignored with a warning.

    TLS certificates are checked against the host's trust store (as curl in DIB does), so a
    corporate CA installed on the host is honoured.
    """

    proxies: Mapping[str, str] = field(default_factory=dict)
    no_proxy: str = ""
    offline: bool = False
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    """Seconds without receiving any byte after which an attempt fails (a stalled server)."""
    retries: int = 3
    """Further attempts after connection errors, timeouts, dropped connections and 5xx."""
    backoff: float = 1.0
    """Seconds before the first retry; doubled for each later one."""
    on_progress: ProgressCallback | None = None
    """Called as ``(url, bytes_done, total or None)`` while a body is received."""

    # --- public ---

    def fetch(self, url: str, dest: Path, *, force: bool = False) -> FetchOutcome:
        """Make ``dest`` a current copy of ``url``; see :class:`FetchOutcome` for the cases.

        If ``dest`` holds a non-empty file it is revalidated with ``If-Modified-Since`` (its
        modification time, which is set from the server's ``Last-Modified``). ``force`` skips
        that and asks every cache on the way to revalidate with the origin server.
        """
        shown = redact_url(url)
        if self.offline:
            if dest.is_file():
                log.info("Not checking freshness of cached %s (offline)", dest)
                return FetchOutcome.OFFLINE_CACHED
            raise OfflineError(
                f"DIB_OFFLINE is set and {dest} is not in the image cache, so {shown} cannot be "
                "downloaded. Run the build once online to fill the cache, or unset DIB_OFFLINE.",
                url=shown,
            )
        scheme = urlsplit(url).scheme.lower()
        try:
            if scheme == "file":
                return self._fetch_file(url, dest, force)
            if scheme in ("http", "https"):
                return self._fetch_http(url, dest, force)
        except OSError as exc:
            raise FetchError(
                f"Could not store the download of {shown} as {dest}: "
                f"{exc.strerror or exc} ({exc.filename or dest.parent}). Check that the image "
                "cache directory is writable and has free space.",
                url=shown,
            ) from exc
        raise FetchError(
            f"Cannot download {shown}: only http://, https:// and file:// URLs are supported. "
            "Check the URL (or the DIB_* setting it came from).",
            url=shown,
        )

    # --- file:// ---

    def _fetch_file(self, url: str, dest: Path, force: bool) -> FetchOutcome:
        shown = redact_url(url)
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise FetchError(
                f"Cannot read {shown}: file:// URLs must name a local file (file:///path), not "
                f"a file on host {parts.netloc!r}.",
                url=shown,
            )
        source = Path(url2pathname(parts.path))
        try:
            st = source.stat()
        except FileNotFoundError as exc:
            raise NotFoundError(
                f"{shown} was not found: there is no file {source}. Check the path.", url=shown
            ) from exc
        cached = _nonempty_file(dest)
        if cached and not force:
            dst = dest.stat()
            if dst.st_size == st.st_size and dst.st_mtime_ns == st.st_mtime_ns:
                log.info("Local copy has not changed. Using locally cached %s", shown)
                return FetchOutcome.NOT_MODIFIED
        with source.open("rb") as src, _PartFile(dest) as part:
            for chunk in iter(lambda: src.read(CHUNK_SIZE), b""):
                part.write(chunk)
                self._progress(shown, part.size, st.st_size)
            part.commit(st.st_mtime_ns)
        return self._log_success(shown, cached, force)

    # --- http(s):// ---

    def _fetch_http(self, url: str, dest: Path, force: bool) -> FetchOutcome:
        shown = redact_url(url)
        conditional = not force and _nonempty_file(dest)
        headers = {"Accept-Encoding": "identity"}
        if force:
            headers["Cache-Control"] = "no-cache, must-revalidate"
            headers["Pragma"] = "no-cache, must-revalidate"
        elif conditional:
            mtime = dest.stat().st_mtime
            headers["If-Modified-Since"] = email.utils.formatdate(mtime, usegmt=True)
        attempts = self.retries + 1
        with self._client() as client:
            for attempt in range(1, attempts + 1):
                try:
                    return self._attempt(client, url, dest, headers, conditional, force)
                except (_Retry, httpx.TransportError) as exc:
                    if isinstance(exc, httpx.UnsupportedProtocol):
                        raise FetchError(
                            f"Cannot download {shown}: {self._scrub(str(exc))}", url=shown
                        ) from exc
                    if "CERTIFICATE_VERIFY_FAILED" in str(exc):  # no retry will fix it
                        raise FetchError(
                            f"Could not download {shown}: the server's TLS certificate could "
                            f"not be verified ({self._scrub(str(exc))}). dibpy checks HTTPS "
                            "certificates against the host's trust store: if the server is "
                            "signed by your own CA, install that CA on the host (Debian: "
                            "/usr/local/share/ca-certificates and update-ca-certificates).",
                            url=shown,
                        ) from exc
                    reason = self._describe(exc)
                    if attempt == attempts:
                        raise FetchError(
                            f"Could not download {shown} ({_attempts(attempts)}); the last "
                            f"failure was: {reason}. {self._advice()}",
                            url=shown,
                        ) from exc
                    delay = self.backoff * 2 ** (attempt - 1)
                    log.warning(
                        "Downloading %s failed (%s); retrying in %.1fs (attempt %d of %d)",
                        shown,
                        reason,
                        delay,
                        attempt + 1,
                        attempts,
                    )
                    time.sleep(delay)
                except httpx.TooManyRedirects as exc:
                    raise FetchError(
                        f"Could not download {shown}: the server redirected too many times "
                        "(a redirect loop). Check the URL, or try a different mirror.",
                        url=shown,
                    ) from exc
                except (httpx.RequestError, httpx.InvalidURL) as exc:
                    raise FetchError(
                        f"Could not download {shown}: {self._scrub(str(exc))}. Check the URL.",
                        url=shown,
                    ) from exc
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    def _attempt(
        self,
        client: httpx.Client,
        url: str,
        dest: Path,
        headers: Mapping[str, str],
        conditional: bool,
        force: bool,
    ) -> FetchOutcome:
        shown = redact_url(url)
        with client.stream("GET", url, headers=headers) as response:
            status = response.status_code
            if response.history:
                log.debug("%s redirected to %s", shown, redact_url(str(response.url)))
            if status == 304 and conditional:
                log.info("Server copy has not changed. Using locally cached %s", shown)
                return FetchOutcome.NOT_MODIFIED
            if status in (404, 410):
                raise NotFoundError(
                    f"{shown} was not found on the server (HTTP {status}). Check the URL, "
                    "or the release, architecture or mirror setting it was built from.",
                    url=shown,
                )
            if status >= 500:
                raise _Retry(f"the server answered HTTP {status} {response.reason_phrase}")
            if not 200 <= status < 300:
                raise FetchError(
                    f"The server refused {shown} with HTTP {status} "
                    f"{response.reason_phrase}. Check the URL and any access the server "
                    "requires; a proxy may also be refusing it.",
                    url=shown,
                )
            total = _content_length(response)
            with _PartFile(dest) as part:
                self._progress(shown, 0, total)
                for chunk in response.iter_raw(CHUNK_SIZE):
                    part.write(chunk)
                    self._progress(shown, part.size, total)
                if total is not None and part.size != total:
                    raise _Retry(f"the connection closed after {part.size} of {total} bytes")
                if part.size == 0 and conditional:
                    log.info(
                        "Ignoring empty file returned by the server. Using locally cached %s",
                        shown,
                    )
                    return FetchOutcome.KEPT_CACHED
                part.commit(_http_date_ns(response.headers.get("Last-Modified")))
        return self._log_success(shown, conditional, force)

    # --- pieces ---

    def _client(self) -> httpx.Client:
        mounts: dict[str, httpx.BaseTransport | None] = {}
        for scheme, proxy in self.proxies.items():
            key = scheme if "://" in scheme else f"{scheme}://"
            try:
                mounts[key] = httpx.HTTPTransport(proxy=proxy, verify=self._tls())
            except (ValueError, TypeError, httpx.InvalidURL) as exc:
                raise SettingsError(
                    f"The {scheme} proxy {redact_url(proxy)!r} cannot be used: "
                    f"{self._scrub(str(exc))}. Give it as http://[user:password@]host:port."
                ) from exc
            log.debug("Using proxy %s for %s", redact_url(proxy), key)
        if mounts:
            mounts.update(self._no_proxy_mounts())
        return httpx.Client(
            mounts=mounts,
            verify=self._tls(),
            trust_env=False,
            follow_redirects=True,
            timeout=httpx.Timeout(
                connect=self.connect_timeout,
                read=self.read_timeout,
                write=self.read_timeout,
                pool=self.connect_timeout,
            ),
        )

    @staticmethod
    def _tls() -> ssl.SSLContext:
        return ssl.create_default_context()

    def _no_proxy_mounts(self) -> dict[str, httpx.BaseTransport | None]:
        """httpx mount patterns that bypass the proxy, following httpx's own NO_PROXY rules."""
        mounts: dict[str, httpx.BaseTransport | None] = {}
        for entry in (e.strip() for e in self.no_proxy.split(",")):
            if not entry:
                continue
            if entry == "*":
                return {"all://": None}
            if "/" in entry and "://" not in entry:
                log.warning("Ignoring %r in no_proxy: network ranges are not supported", entry)
                continue
            if "://" in entry:
                pattern = entry
            else:
                try:
                    address = ipaddress.ip_address(entry.strip("[]"))
                except ValueError:
                    host = entry if entry.lower() == "localhost" else f"*{entry}"
                    pattern = f"all://{host}"
                else:
                    host = f"[{address}]" if address.version == 6 else str(address)
                    pattern = f"all://{host}"
            mounts[pattern] = None
        return mounts

    def _progress(self, shown: str, done: int, total: int | None) -> None:
        if self.on_progress is not None:
            self.on_progress(shown, done, total)

    @staticmethod
    def _log_success(shown: str, had_cache: bool, force: bool) -> FetchOutcome:
        if force:
            log.info("Downloaded and cached %s, having forced upstream caches to revalidate", shown)
            return FetchOutcome.FORCED
        if had_cache:
            log.info("Server copy has changed. Using server version of %s", shown)
            return FetchOutcome.CHANGED
        log.info("Downloaded and cached %s for the first time", shown)
        return FetchOutcome.DOWNLOADED

    def _scrub(self, text: str) -> str:
        """``text`` with every URL password and every proxy password masked (httpx may
        quote a proxy's password outside its URL)."""
        passwords = []
        for proxy in self.proxies.values():
            with suppress(ValueError):
                passwords.append(urlsplit(proxy).password or "")
        return redact_url(text, passwords)

    def _describe(self, exc: BaseException) -> str:
        if isinstance(exc, _Retry):
            return str(exc)
        if isinstance(exc, httpx.ConnectTimeout):
            what = f"no connection within {self.connect_timeout:g}s"
        elif isinstance(exc, httpx.ReadTimeout):
            what = f"no data for {self.read_timeout:g}s (the server stalled)"
        elif isinstance(exc, httpx.ProxyError):
            what = "the proxy failed"
        elif isinstance(exc, httpx.ConnectError):
            what = "could not connect"
        elif isinstance(exc, httpx.RemoteProtocolError):
            what = "the connection was dropped"
        else:
            what = type(exc).__name__
        detail = self._scrub(str(exc))
        return f"{what}: {detail}" if detail else what

    def _advice(self) -> str:
        if self.proxies:
            shown = ", ".join(f"{k}={redact_url(v)}" for k, v in self.proxies.items())
            return (
                "Check the URL, your network connection and the proxy settings "
                f"({shown}); if the server is overloaded, try again later."
            )
        return (
            "Check the URL and your network connection (a proxy may be needed); if the "
            "server is overloaded, try again later."
        )


def _attempts(n: int) -> str:
    return "1 attempt" if n == 1 else f"{n} attempts"


def _content_length(response: httpx.Response) -> int | None:
    value = response.headers.get("Content-Length")
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


__all__ = [
    "FetchError",
    "FetchOutcome",
    "Fetcher",
    "NotFoundError",
    "OfflineError",
    "redact_url",
    "remote_name",
]
