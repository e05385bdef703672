"""The image cache (``DIB_IMAGE_CACHE``) and its one owner, :class:`ImageCache` (``ctx.cache``).

It owns the layout: an element asks for a named *area* (``ctx.cache.area("debootstrap")``)
and never composes a path under the cache itself. It owns the locks: one flock per entry of
an area (``area.lock(name)``), so concurrent builds sharing the cache take turns per file.
It owns verified downloads (``area.verified(...)``: fetch over :mod:`dibpy.host.fetch`, check
the published SHA-256, place atomically, all under the entry's lock) and the shared mounts of
an area into the tree (``ctx.cache.mount(area, "var/cache/apt/archives")``, through the tree's
:class:`~dibpy.host.mounts.TreeMounts`).

The areas keep the paths DIB and earlier dibpy used, so existing caches stay valid: base
images and debootstrap tarballs at the top of the cache (DIB's own layout), the apt archives
in ``apt/<distro>``, the others in a directory of their name.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import filelock

from dibpy.errors import BuildError
from dibpy.host.checksums import fetch_verified
from dibpy.host.fetch import Fetcher
from dibpy.host.mounts import TreeMounts

log = logging.getLogger("dibpy.host.cache")

LOCK_TIMEOUT = 1200.0
"""Seconds to wait for another build's work on the same entry, as DIB's ``flock -w 1200``."""

AREAS = {
    "cloud-images": "",
    "debootstrap": "",
    "apt-archives": "apt",
    "ccache": "ccache",
    "source-repositories": "source-repositories",
}
"""The areas of the built-in elements and where each lives in the cache; any other name
(an element's own area) is a directory of that name."""

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*")


class ImageCache:
    """The image cache at ``root``; ``fetcher`` downloads into it, ``mounts`` (the tree's)
    takes its shared mounts."""

    def __init__(self, root: Path, *, fetcher: Fetcher, mounts: TreeMounts | None = None) -> None:
        self.root = root
        self.fetcher = fetcher
        self._mounts = mounts
        self._mounted: dict[Path, CacheArea] = {}

    def area(self, name: str, *parts: str) -> CacheArea:
        """The area ``name`` (created if missing); ``parts`` name a sub-area, e.g.
        ``area("apt-archives", "debian")`` for one distribution's packages."""
        for part in (name, *parts):
            _check_name(part, "area")
        path = self.root.joinpath(AREAS.get(name, name), *parts)
        path.mkdir(parents=True, exist_ok=True)
        return CacheArea("/".join((name, *parts)), path, self.fetcher)

    def mount(self, area: CacheArea, target: str, *, read_only: bool = False) -> Path:
        """Bind-mount ``area`` at ``target`` in the tree until the tree phases end (a second
        request for the same mount is a no-op); returns the mount point on the host."""
        if self._mounts is None:
            raise BuildError(f"The cache area {area.name} cannot be mounted: there is no tree.")
        where = self._mounts.bind(area.path, target, read_only=read_only)
        self._mounted[area.path] = area
        return where

    def mounted_at(self, target: str) -> CacheArea | None:
        """The area shared at ``target`` in the tree, if one is mounted there now."""
        source = self._mounts.held(target) if self._mounts is not None else None
        return self._mounted.get(Path(source)) if source is not None else None


class CacheArea:
    """One area of the image cache: its entries, their locks, verified downloads into it."""

    def __init__(self, name: str, path: Path, fetcher: Fetcher) -> None:
        self.name = name
        self.path = path
        self.fetcher = fetcher

    def __repr__(self) -> str:
        return f"CacheArea({self.name!r}, {self.path})"

    def entry(self, name: str) -> Path:
        """The path of the entry ``name`` (one file or directory name) in the area."""
        _check_name(name, "entry")
        return self.path / name

    @contextmanager
    def lock(
        self, entry: str, *, timeout: float = LOCK_TIMEOUT, doing: str | None = None
    ) -> Iterator[Path]:
        """Hold the entry's lock (``<entry>.lock`` beside it) for the block; yields the entry's
        path. ``doing`` says what another build holding it is doing, for the wait message."""
        path = self.entry(entry)
        with lock_file(path, timeout, doing=doing):
            yield path

    @contextmanager
    def placing(self, entry: str) -> Iterator[Path]:
        """A hidden temporary path beside ``entry`` to write it at; when the block ends
        without an error it replaces ``entry`` in one rename, so the cache never holds a
        partial entry; otherwise it is removed. Hold the entry's :meth:`lock` around it."""
        path = self.entry(entry)
        partial = path.with_name(f".{path.name}.partial")
        try:
            yield partial
            partial.replace(path)
        finally:
            partial.unlink(missing_ok=True)

    @contextmanager
    def verified(
        self,
        url: str,
        entry: str,
        *,
        sums_url: str,
        sums_entry: str,
        timeout: float = LOCK_TIMEOUT,
        fetcher: Fetcher | None = None,
    ) -> Iterator[Path]:
        """Under the entry's lock: make ``entry`` a current copy of ``url`` that matches its
        line in ``sums_url`` (kept as ``sums_entry``), then yield its path, still holding
        the lock so no other build replaces it while the block uses it. A download that
        never matches is removed and raises ``ChecksumMismatchError``. ``fetcher`` replaces
        the build's (other timeouts, say)."""
        sums = self.entry(sums_entry)
        with self.lock(entry, timeout=timeout) as path:
            fetch_verified(fetcher or self.fetcher, url, path, sums_url, sums)
            yield path


def _check_name(name: str, what: str) -> None:
    if not _NAME.fullmatch(name):
        raise BuildError(
            f"{name!r} is not a valid cache {what} name: use one file name (letters, digits, "
            "'.', '_', '+', '-'), no '/' and no leading '.'."
        )


class LockTimeoutError(BuildError):
    """Another process held a cache lock for longer than we were willing to wait."""

    def __init__(self, lock_path: Path, timeout: float) -> None:
        super().__init__(
            f"Gave up after waiting {timeout:g} seconds for the cache lock {lock_path}: another "
            "build is still downloading or unpacking the same file. Wait for it to finish and "
            "try again; if no other build is running, a stale process may hold the lock "
            f"(check with `fuser {lock_path}`)."
        )
        self.lock_path = lock_path
        self.timeout = timeout


@contextmanager
def lock_file(
    path: Path, timeout: float = LOCK_TIMEOUT, *, doing: str | None = None
) -> Iterator[Path]:
    """Hold ``{path}.lock`` (an exclusive ``flock``) for the block; yields the lock's path.

    Builds that download, verify or unpack the same cache entry hold it around the whole job,
    so that one downloads while the others wait and then find a fresh cache (elements take it
    through :meth:`CacheArea.lock`). Raises
    :class:`LockTimeoutError` after ``timeout`` seconds. ``doing`` says, while waiting, what
    the other build is doing (default: fetching ``path``).
    """
    lock_path = Path(f"{path}.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(lock_path)
    try:
        _acquire(lock, 0)
    except filelock.Timeout:
        what = doing or f"fetching {path}"
        log.info("Waiting up to %gs for %s: another build is %s", timeout, lock_path, what)
        started = time.monotonic()
        try:
            _acquire(lock, timeout)
        except filelock.Timeout as exc:
            raise LockTimeoutError(lock_path, timeout) from exc
        log.info("Got %s after %.1fs", lock_path, time.monotonic() - started)
    try:
        yield lock_path
    finally:
        lock.release()


def _acquire(lock: filelock.BaseFileLock, timeout: float) -> None:
    """``lock.acquire``; a lock file that is a symbolic link is refused, not followed."""
    lock_path = Path(lock.lock_file)
    try:
        lock.acquire(timeout=timeout)
    except filelock.Timeout:
        raise
    except OSError as exc:
        if exc.errno != errno.ELOOP and not lock_path.is_symlink():
            raise
        raise BuildError(
            f"The cache lock {lock_path} is a symbolic link (to {os.readlink(lock_path)}); "
            "dibpy does not follow links planted in the image cache. Remove the link (and "
            "check who can write to the cache directory), then run the build again."
        ) from None
