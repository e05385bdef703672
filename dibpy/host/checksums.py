"""Verified downloads: a file fetched (over :mod:`dibpy.host.fetch`'s HTTP) and checked against
the SHA-256 its published sums file lists, refetched past stale caches, removed if it never
matches."""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

from dibpy.host.fetch import Fetcher, FetchError, FetchOutcome, remote_name
from dibpy.redact import redact_url

log = logging.getLogger("dibpy.host.checksums")


class ChecksumMismatchError(FetchError):
    """A file does not match its published SHA-256, or the sums file does not list it."""

    def __init__(
        self,
        message: str,
        *,
        path: Path,
        expected: str | None = None,
        actual: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message, url=url)
        self.path = path
        self.expected = expected
        self.actual = actual


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file's contents, as lower-case hex."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


_GNU_LINE = re.compile(r"^(?P<hex>[0-9a-fA-F]{64}) [ *](?P<name>.+)$")
_BSD_LINE = re.compile(r"^SHA256 \((?P<name>.+)\) = (?P<hex>[0-9a-fA-F]{64})$")


def expected_sha256(sums_file: Path, filename: str) -> str:
    """The hash ``sums_file`` lists for ``filename``.

    Understands ``sha256sum`` output (``HEX  name`` and the binary-mode ``HEX *name``) and the
    BSD form ``SHA256 (name) = HEX``; a leading ``./`` on names is ignored.
    """
    try:
        text = sums_file.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ChecksumMismatchError(
            f"Cannot read the checksum file {sums_file}: {exc.strerror or exc}. Delete it from "
            "the image cache and run the build again to download it afresh.",
            path=sums_file,
        ) from exc
    wanted = filename.removeprefix("./")
    for line in text.splitlines():
        match = _GNU_LINE.match(line.rstrip("\r")) or _BSD_LINE.match(line.rstrip("\r"))
        if match and match["name"].removeprefix("./") == wanted:
            return match["hex"].lower()
    raise ChecksumMismatchError(
        f"The checksum file {sums_file} has no SHA-256 line for {filename}, so the file cannot "
        "be verified. The mirror may be part-way through an update (try again later), or the "
        "file name or release may be wrong.",
        path=sums_file,
    )


def fetch_verified(
    fetcher: Fetcher, url: str, dest: Path, sums_url: str, sums_dest: Path
) -> FetchOutcome:
    """Fetch ``url`` to ``dest`` and check it against its line in ``sums_url``.

    The sums file is looked up by the remote file name (the last path segment of ``url``),
    not by ``dest.name``. On a mismatch the sums file and then the file itself are fetched
    again with ``force=True``, since a stale proxy cache is the usual cause (as DIB does).
    If that still fails, ``dest`` is deleted, so that the next build cannot take it for a
    good copy, and :class:`ChecksumMismatchError` is raised.

    Offline with ``dest`` cached, ``dest`` is used as it is, unverified.

    This takes no lock: :meth:`dibpy.host.cache.CacheArea.verified` holds the entry's lock
    around it and around whatever the caller does with the file (e.g. unpacking), so that
    no other build replaces the file in between.
    """
    if fetcher.offline and dest.is_file():
        log.warning(
            "Not checking freshness or checksum of cached %s (offline); using it as it is",
            dest,
        )
        return FetchOutcome.OFFLINE_CACHED
    name = remote_name(url)
    shown_sums = redact_url(sums_url)
    fetcher.fetch(sums_url, sums_dest)
    outcome = fetcher.fetch(url, dest)
    problem = _verify(dest, sums_dest, name, shown_sums)
    if problem is None:
        return outcome
    log.warning(
        "%s; an upstream cache may have served a stale copy. Fetching %s again, having "
        "forced upstream caches to revalidate",
        problem,
        shown_sums,
    )
    fetcher.fetch(sums_url, sums_dest, force=True)
    problem = _verify(dest, sums_dest, name, shown_sums)
    if problem is None:
        return outcome
    log.warning(
        "%s; fetching %s again, having forced upstream caches to revalidate",
        problem,
        redact_url(url),
    )
    outcome = fetcher.fetch(url, dest, force=True)
    problem = _verify(dest, sums_dest, name, shown_sums)
    if problem is None:
        return outcome
    dest.unlink(missing_ok=True)
    raise problem


def _verify(
    dest: Path, sums_dest: Path, name: str, shown_sums: str
) -> ChecksumMismatchError | None:
    actual = sha256_file(dest)
    try:
        expected = expected_sha256(sums_dest, name)
    except ChecksumMismatchError as exc:
        return ChecksumMismatchError(
            f"{exc} The sums were downloaded from {shown_sums}; {dest} was removed from the "
            "image cache.",
            path=dest,
            actual=actual,
            url=shown_sums,
        )
    if actual == expected:
        log.info("Verified %s: SHA-256 %s as listed in %s", dest, actual, shown_sums)
        return None
    return ChecksumMismatchError(
        f"The SHA-256 of {dest} ({name}) is {actual}, but {shown_sums} lists {expected}. "
        "This held even after forcing upstream caches to revalidate both files, so "
        f"{dest} was removed from the image cache. The mirror may be part-way through an "
        "update or serving a corrupt file: try again later or use another mirror.",
        path=dest,
        expected=expected,
        actual=actual,
        url=shown_sums,
    )
