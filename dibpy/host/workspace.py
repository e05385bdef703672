"""The build directory and everything a build holds: mounts, in the order to release them."""

from __future__ import annotations

import errno
import logging
import os
import tempfile
from pathlib import Path

from dibpy.errors import BuildError, BuildInterrupted, InputError
from dibpy.host import mounts
from dibpy.host.chroot import kill_processes_in
from dibpy.host.run import Runner

log = logging.getLogger("dibpy.host.workspace")

NO_SPACE = os.strerror(errno.ENOSPC)  # "No space left on device": commands run in the C locale


class Workspace:
    """Owns ``build_dir``. Paths inside it are derived, never stored twice.

    ``mounts`` owns the mounts in the tree (bind mounts of caches, the chroot's API file
    systems); the build releases them when the tree phases end, before the tree is turned
    into an image; ``close`` releases anything still held and removes the directory, but
    never while something is mounted below it.

    With ``tmpfs`` the build directory is a tmpfs, as DIB's is when the machine has the
    memory (``use_tmpfs``): package installs never wait for the disk, and removing the
    build is an unmount instead of deleting tens of thousands of files one by one. It is
    for a build directory that goes at the end: one that is kept lives on disk. Its size is
    ``tmpfs_size`` (mount's ``size=``), or tmpfs's default, half the memory, as DIB's.
    """

    def __init__(
        self,
        tmp_dir: Path,
        runner: Runner,
        *,
        tmpfs: bool = False,
        tmpfs_size: str | None = None,
    ) -> None:
        try:
            tmp_dir.mkdir(parents=True, exist_ok=True)
            self.build_dir = Path(tempfile.mkdtemp(prefix="dibpy_build.", dir=tmp_dir))
        except OSError as exc:
            raise InputError(
                f"Cannot create a build directory in {tmp_dir}: {exc.strerror}. Point TMP_DIR "
                "at a writable directory."
            ) from None
        self.runner = runner
        self.tmpfs = tmpfs
        self.tmpfs_size = tmpfs_size
        if tmpfs:
            options = ["mode=0700", *([f"size={tmpfs_size}"] if tmpfs_size else [])]
            try:
                mounts.mount(runner, "tmpfs", self.build_dir, fstype="tmpfs", options=options)
            except BuildError:
                self.build_dir.rmdir()
                raise
        self.target_root.mkdir(mode=0o755)
        self.mounts = mounts.TreeMounts(runner, self.target_root)

    @property
    def target_root(self) -> Path:
        return self.build_dir / "root"

    @property
    def outputs_dir(self) -> Path:
        return self.build_dir / "out"

    def release_tree_mounts(self, *, leftovers: bool = False) -> None:
        """Release the tree's mounts (see :meth:`TreeMounts.release`); with ``leftovers``,
        first kill what still runs in the tree, so nothing holds them."""
        if leftovers:
            kill_processes_in(self.target_root)
        self.mounts.release(leftovers=leftovers)

    def close(self, *, remove: bool) -> None:
        """Kill what still runs in the build directory (a process a hook started outside a
        chroot session), release every mount, then remove the directory if asked."""
        kill_processes_in(self.build_dir)
        try:
            self.mounts.release(leftovers=True)
        finally:
            keep = self.build_dir if self.tmpfs else None  # our tmpfs: unmounted below
            mounts.unmount_all_under(self.runner, self.build_dir, keep=keep)
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

    def explain_no_space(self, error: BuildError) -> None:
        """Say so in ``error``'s message when it is a disk-full error and the build directory
        is a tmpfs: in memory, where a build that fits on disk may not fit.

        Called with the error that ends the build, before anything is unmounted. The tmpfs
        counts as full with less than 5% of it free; when it has more (the failing program
        removed what it had written, as dpkg does, or another file system is the full one)
        the advice says how much is free and is worded as a possibility.
        """
        if not self.tmpfs or isinstance(error, BuildInterrupted) or NO_SPACE not in str(error):
            return
        try:
            stat = os.statvfs(self.build_dir)
        except OSError:
            return
        size, free = stat.f_blocks * stat.f_frsize, stat.f_bavail * stat.f_frsize
        origin = f"DIBPY_TMPFS_SIZE={self.tmpfs_size}" if self.tmpfs_size else "half the memory"
        what = f"The build directory {self.build_dir} is a tmpfs in memory, {_mib(size)} ({origin})"
        remedy = (
            "build on disk with --no-tmpfs (DIB_NO_TMPFS=1), or give the tmpfs more memory "
            "(a bigger DIBPY_TMPFS_SIZE, or a machine with more RAM)."
        )
        if free < size // 20:
            advice = f"{what}, and it is full: {remedy}"
        else:
            advice = f"{what}, {_mib(free)} free now; if it is what filled up, {remedy}"
        error.args = (f"{error.args[0]}\n{advice}" if error.args else advice, *error.args[1:])


def _mib(size: int) -> str:
    return f"{size / 2**20:.0f} MiB" if size < 10 * 2**30 else f"{size / 2**30:.1f} GiB"


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
