"""The build directory and everything a build holds: mounts, in the order to release them."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

from dibpy import mounts
from dibpy.chroot import kill_processes_in
from dibpy.errors import BuildError, InputError
from dibpy.run import Runner

log = logging.getLogger("dibpy.workspace")


class Workspace:
    """Owns ``build_dir``. Paths inside it are derived, never stored twice.

    Mounts into the tree (bind mounts of caches) are held until the tree phases end and are
    released then, before the tree is turned into an image; ``close`` releases anything
    still held and removes the directory, but never while something is mounted below it.

    With ``tmpfs`` the build directory is a tmpfs, as DIB's is when the machine has the
    memory (``use_tmpfs``): package installs never wait for the disk, and removing the
    build is an unmount instead of deleting tens of thousands of files one by one. It is
    for a build directory that goes at the end: one that is kept lives on disk.
    """

    def __init__(self, tmp_dir: Path, runner: Runner, *, tmpfs: bool = False) -> None:
        try:
            tmp_dir.mkdir(parents=True, exist_ok=True)
            self.build_dir = Path(tempfile.mkdtemp(prefix="dibpy_build.", dir=tmp_dir))
        except OSError as exc:
            raise InputError(
                f"Cannot create a build directory in {tmp_dir}: {exc.strerror}. Point TMP_DIR "
                "at a writable directory."
            ) from None
        self.runner = runner
        self._tree_mounts = ExitStack()
        self.tmpfs = tmpfs
        if tmpfs:
            try:
                mounts.mount(runner, "tmpfs", self.build_dir, fstype="tmpfs", options=["mode=0700"])
            except BuildError:
                self.build_dir.rmdir()
                raise
        self.target_root.mkdir(mode=0o755)

    @property
    def target_root(self) -> Path:
        return self.build_dir / "root"

    @property
    def outputs_dir(self) -> Path:
        return self.build_dir / "out"

    def bind_mount(self, source: Path, target: Path, options: Sequence[str] = ()) -> None:
        """Bind-mount ``source`` at ``target`` in the tree until the tree phases end."""
        mounts.mount(self.runner, source, target, bind=True, options=options)
        self._tree_mounts.callback(mounts.unmount, self.runner, target)

    def release_tree_mounts(self) -> None:
        self._tree_mounts.close()

    def release_all_tree_mounts(self) -> None:
        """Release the tree's mounts, also those a hook made without registering them, once
        nothing runs in the tree any more."""
        kill_processes_in(self.target_root)
        self.release_tree_mounts()
        for leftover in mounts.mounts_under(self.target_root):
            log.warning("Unmounting %s, which a hook left mounted", leftover)
            mounts.unmount(self.runner, leftover)

    def close(self, *, remove: bool) -> None:
        """Kill what still runs in the build directory (a process a hook started outside a
        chroot session), release every mount, then remove the directory if asked."""
        kill_processes_in(self.build_dir)
        try:
            self.release_tree_mounts()
        finally:
            for leftover in mounts.mounts_under(self.build_dir):
                if leftover == self.build_dir.resolve() and self.tmpfs:
                    continue  # our own tmpfs: unmounted below, once it is to go
                log.warning("Unmounting %s, which a hook left mounted", leftover)
                mounts.unmount(self.runner, leftover)
        if self.tmpfs and remove:
            mounts.unmount(self.runner, self.build_dir)
        if mounts.mounts_under(self.build_dir):
            raise BuildError(
                f"Something is still mounted under {self.build_dir}; it was not removed. "
                f"Unmount it (see `findmnt -R {self.build_dir}`) and delete the directory."
            )
        if remove:
            # --one-file-system: never cross into a mount, whatever happened above.
            self.runner.run(["rm", "-rf", "--one-file-system", self.build_dir])


def use_tmpfs(*, no_tmpfs: bool, min_tmpfs_gb: int, meminfo: Path = Path("/proc/meminfo")) -> bool:
    """DIB's rule: a tmpfs unless ``DIB_NO_TMPFS``, and only if the machine has at least
    twice ``DIB_MIN_TMPFS`` GiB of memory in all (MemTotal)."""
    if no_tmpfs:
        return False
    try:
        fields = dict(
            line.split(":", 1) for line in meminfo.read_text().splitlines() if ":" in line
        )
        total_kib = int(fields["MemTotal"].split()[0])
    except (OSError, KeyError, ValueError):
        return False
    return total_kib >= min_tmpfs_gb * 2 * 1024 * 1024
