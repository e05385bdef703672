"""Copy a host directory into the target tree the way DIB's ``rsync``/``cp -R`` calls did,
without ever writing through a symlink of the tree onto the host.

DIB copies element data into the image with ``rsync -lCr static/ /`` (install-static),
``cp -RP init-scripts/X/. DEST`` (dib-init-system) and ``rsync -a DIR/. DEST``
(source-repositories' tarballs), all run inside the chroot or on paths a chroot would see.
:func:`copy_into_root` does the same merge from the host:

* the source is walked without following its symlinks: a symlink is copied as a symlink
  (``-l``/``-P``), its target text unchanged; sockets, fifos and devices are skipped with a
  warning (neither ``-lr`` nor ``-RP`` of a data folder is meant to carry them);
* in the tree, a file or symlink of the same name is *replaced* (a new file is written
  beside it and renamed over it, as rsync does), never written through; a directory is
  merged into. A symlink where the source has a directory is followed when it resolves,
  inside the tree, to a directory (rsync's ``--keep-dirlinks``, what a ``cp -R`` in a chroot
  does): rsync without ``-K`` would replace ``/lib -> usr/lib`` of a merged-``/usr`` image
  with a real directory holding only the copied files, breaking the image. A directory in
  the tree where the source has a file is refused unless it is empty, as rsync without
  ``--force`` refuses;
* owner and group are the copying process's (root): none of the three commands keeps
  owners of files it creates;
* ``archive=False`` (``rsync -r`` without ``-p``/``-t``, ``cp`` without ``-p``): a new file
  or directory gets the source's permission bits less a ``022`` umask and without
  setuid/setgid/sticky; an existing file or directory keeps its permissions; times are not
  kept. ``archive=True`` (``rsync -a``): permissions including the special bits and
  modification times come from the source, also for the destination directory itself;
* ``cvs_exclude=True`` is rsync's ``-C``: names matching rsync's default CVS ignore list
  (:data:`CVS_IGNORE`: ``*.so``, ``*.o``, ``*.a``, ``core``, ``tags``, ``*.old``,
  ``*.bak``, ``*~``, ``.git/`` ...) are skipped, with everything below them, and so are
  names matching a ``.cvsignore`` file of the same source directory. ``$CVSIGNORE`` and
  ``~/.cvsignore`` (of root inside the image, for DIB) are not read.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import stat
import tempfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from dibpy.errors import BuildError
from dibpy.tree.paths import in_root

log = logging.getLogger("dibpy.tree.copying")

UMASK = 0o022
"""The umask DIB's ``sudo``/chroot hooks run with; new entries of a non-archive copy get it."""

#: rsync 3.x's ``default_cvsignore``: what ``-C`` leaves out (a trailing ``/``: directories).
CVS_IGNORE = (
    *("RCS", "SCCS", "CVS", "CVS.adm", "RCSLOG", "cvslog.*", "tags", "TAGS", ".make.state"),
    *(".nse_depinfo", "*~", "#*", ".#*", ",*", "_$*", "*$", "*.old", "*.bak", "*.BAK"),
    *("*.orig", "*.rej", ".del-*", "*.a", "*.olb", "*.o", "*.obj", "*.so", "*.exe", "*.Z"),
    *("*.elc", "*.ln", "core", ".svn/", ".git/", ".hg/", ".bzr/"),
)


def copy_into_root(
    source: Path,
    root: Path,
    dest: str = "/",
    *,
    archive: bool = False,
    cvs_exclude: bool = False,
) -> list[str]:
    """Merge the contents of ``source`` into ``dest`` (a path as seen inside ``root``).

    ``dest`` and its missing parents are created (parents ``0755``). Returns the in-tree
    paths written, in the order written. Raises BuildError when ``dest`` is not a
    directory in the tree or a directory of the tree would have to become a file.
    """
    if not source.is_dir() or source.is_symlink():
        raise BuildError(f"Cannot copy {source} into the image: it is not a directory.")
    target, created = make_dirs(root, dest)
    copier = _Copier(root, archive, cvs_exclude)
    copier.copy_dir(source, target)
    copier.finish_dir(source, target, created)
    return copier.written


class _Copier:
    def __init__(self, root: Path, archive: bool, cvs_exclude: bool) -> None:
        self.root = root
        self.archive = archive
        self.cvs_exclude = cvs_exclude
        self.written: list[str] = []

    def inside(self, path: Path) -> str:
        return "/" + path.relative_to(self.root).as_posix() if path != self.root else "/"

    def copy_dir(self, source: Path, target: Path) -> None:
        local = _cvsignore(source) if self.cvs_exclude else []
        with os.scandir(source) as scan:
            entries = sorted(scan, key=lambda e: e.name)
        for entry in entries:
            st = entry.stat(follow_symlinks=False)
            is_dir = stat.S_ISDIR(st.st_mode)
            if self.cvs_exclude and cvs_excluded(entry.name, is_dir, local):
                log.debug("Not copying %s (rsync -C would skip it)", entry.path)
                continue
            here = target / entry.name
            if is_dir:
                sub, created = self.dir_at(here)
                self.written.append(self.inside(sub))
                self.copy_dir(Path(entry.path), sub)
                self.finish_dir(Path(entry.path), sub, created)
            elif stat.S_ISLNK(st.st_mode):
                self.make_way(here)
                os.symlink(os.readlink(entry.path), here)
                if self.archive:
                    os.utime(here, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
                self.written.append(self.inside(here))
            elif stat.S_ISREG(st.st_mode):
                self.copy_file(Path(entry.path), st, here)
                self.written.append(self.inside(here))
            else:
                log.warning(
                    "Not copying %s into the image: not a file, link or directory", entry.path
                )

    def dir_at(self, here: Path) -> tuple[Path, bool]:
        """The real directory to merge into at ``here``, and whether it was created."""
        try:
            st = os.lstat(here)
        except FileNotFoundError:
            here.mkdir()
            return here, True
        if stat.S_ISDIR(st.st_mode):
            return here, False
        if stat.S_ISLNK(st.st_mode):
            resolved = in_root(self.root, self.inside(here))
            if resolved.is_dir() and not resolved.is_symlink():
                return resolved, False
        here.unlink()
        here.mkdir()
        return here, True

    def finish_dir(self, source: Path, target: Path, created: bool) -> None:
        st = source.lstat()
        if self.archive:
            target.chmod(stat.S_IMODE(st.st_mode))
            os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
        elif created:
            target.chmod(st.st_mode & 0o777 & ~UMASK)

    def make_way(self, here: Path) -> None:
        _make_way(self.root, here)

    def copy_file(self, source: Path, st: os.stat_result, here: Path) -> None:
        _place_file(self.root, source, here, stat.S_IMODE(st.st_mode) if self.archive else None, st)
        if self.archive:
            os.utime(here, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def cvs_excluded(name: str, is_dir: bool, extra: Sequence[str] = ()) -> bool:
    """Whether rsync ``-C`` leaves out an entry called ``name`` (``extra``: the patterns
    of the ``.cvsignore`` in its directory)."""
    for pattern in (*CVS_IGNORE, *extra):
        if pattern.endswith("/"):
            if not is_dir:
                continue
            pattern = pattern.rstrip("/")
        if fnmatch.fnmatchcase(name, pattern):
            return True
    return False


def _cvsignore(directory: Path) -> list[str]:
    """The patterns of ``directory/.cvsignore`` (white-space separated; ``!`` clears)."""
    path = directory / ".cvsignore"
    if path.is_symlink() or not path.is_file():
        return []
    patterns: list[str] = []
    for word in path.read_text(errors="replace").split():
        if word == "!":
            patterns.clear()
        else:
            patterns.append(word)
    return patterns


def make_dirs(root: Path, path: str) -> tuple[Path, bool]:
    """``mkdir -p path`` inside ``root``: the host path of the directory, and whether it
    was created. Symlinks on the way are resolved inside the tree; created parents get
    ``0755``. Raises BuildError if something on the way is not a directory."""
    target = in_root(root, path)
    if target.exists():
        if not target.is_dir():
            raise BuildError(f"Cannot use {path} in the image as a directory: it is a file.")
        return target, False
    missing = []
    probe = target
    while not probe.exists() and probe != root:
        missing.append(probe)
        probe = probe.parent
    if not probe.is_dir():
        shown = "/" + probe.relative_to(root).as_posix()
        raise BuildError(f"Cannot create {path} in the image: {shown} is not a directory.")
    for directory in reversed(missing):
        directory.mkdir()
        directory.chmod(0o755)
    return target, True


def install_file(root: Path, source: Path, path: str, mode: int | None = None) -> Path:
    """Copy the regular file ``source`` to ``path`` in the tree (its parents made), as
    ``install -m MODE`` does, or as ``cp`` does with ``mode=None`` (an existing file keeps
    its permissions, a new one gets the source's less the umask). A file or symlink at
    ``path`` is replaced, never written through; a directory there is an error.
    Returns the host path written."""
    inside = PurePosixPath("/", path)
    parent, _ = make_dirs(root, str(inside.parent))
    here = parent / inside.name
    _place_file(root, source, here, mode, source.stat())
    return here


def _place_file(root: Path, source: Path, here: Path, mode: int | None, st: os.stat_result) -> None:
    """Write ``source``'s bytes to ``here`` (a path whose parent is a real directory in the
    tree) through a temporary file renamed over it. ``mode=None``: keep the permissions of
    a regular file already there, else the source's (``st``) without special bits, less
    the umask."""
    try:
        there: os.stat_result | None = os.lstat(here)
    except FileNotFoundError:
        there = None
    regular = there is not None and stat.S_ISREG(there.st_mode)
    if mode is None:
        if there is not None and regular:
            mode = stat.S_IMODE(there.st_mode)
        else:
            mode = st.st_mode & 0o777 & ~UMASK
    fd, temporary = tempfile.mkstemp(prefix=f".{here.name[:40]}.", dir=here.parent)
    try:
        with os.fdopen(fd, "wb") as out, source.open("rb") as src:
            while chunk := src.read(1 << 20):
                out.write(chunk)
            os.fchmod(out.fileno(), mode)
        if there is not None and not regular:
            _make_way(root, here)
        os.replace(temporary, here)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _make_way(root: Path, here: Path) -> None:
    """Remove the file or symlink at ``here``, or the empty directory; refuse a full one."""
    try:
        st = os.lstat(here)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        here.unlink()
        return
    try:
        here.rmdir()
    except OSError:
        shown = "/" + here.relative_to(root).as_posix()
        raise BuildError(
            f"Cannot put a file at {shown} in the image: a directory that is not empty is "
            "there. Remove it in an earlier hook, or rename the file."
        ) from None
