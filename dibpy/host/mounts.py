"""Mounting and unmounting, reading the kernel's mount table, and :class:`TreeMounts`, the
one owner of the mounts in a build's tree."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from dibpy.errors import BuildError, CommandError
from dibpy.host.run import Runner
from dibpy.tree.paths import in_root, make_dir

log = logging.getLogger("dibpy.host.mounts")


def mount_points(mountinfo: Path = Path("/proc/self/mountinfo")) -> list[Path]:
    """Every mount point of this process's namespace, in mount order."""
    points = []
    for line in mountinfo.read_text().splitlines():
        fields = line.split(" ")
        points.append(Path(_unescape(fields[4])))
    return points


def mounts_under(directory: Path) -> list[Path]:
    """Mount points at or below ``directory``, deepest first (the order to unmount)."""
    root = directory.resolve()
    inside = [p for p in mount_points() if p == root or root in p.parents]
    return sorted(inside, key=lambda p: len(p.parts), reverse=True)


def is_mounted(path: Path) -> bool:
    return path.resolve() in mount_points()


def mount(
    runner: Runner,
    source: str | Path,
    target: Path,
    *,
    fstype: str | None = None,
    options: Sequence[str] = (),
    bind: bool = False,
) -> None:
    """Mount ``source`` on ``target`` (created if missing)."""
    target.mkdir(parents=True, exist_ok=True)
    argv: list[str | Path] = ["mount"]
    if bind:
        argv.append("--bind")
    if fstype:
        argv += ["-t", fstype]
    if options:
        argv += ["-o", ",".join(options)]
    runner.run([*argv, source, target])


def unmount(runner: Runner, target: Path, attempts: int = 5) -> None:
    """Unmount ``target``, retrying a busy mount briefly before giving up loudly."""
    for attempt in range(1, attempts + 1):
        try:
            runner.run(["umount", target])
            return
        except CommandError as exc:
            if not is_mounted(target):
                return
            if attempt == attempts:
                raise BuildError(
                    f"Could not unmount {target}: {exc.output_tail.strip() or exc}. A process "
                    f"may still use it; see `fuser -vm {target}`."
                ) from exc
            log.warning("%s is busy; retrying the unmount (%d/%d)", target, attempt, attempts)
            time.sleep(0.2 * attempt)


@dataclass(frozen=True)
class _Held:
    source: str
    fstype: str | None
    options: tuple[str, ...]
    read_only: bool


class TreeMounts:
    """Every mount dibpy makes in the tree ``root``, and the one place they are released.

    A target is a path as seen inside the tree; it is resolved inside the tree (a symlink on
    the way never leads onto the host) and created if missing. A mount made here is held
    until :meth:`release` (the build calls it when the tree phases end); one made through a
    :meth:`scope` only until that block ends. Either way mounts are released in reverse
    order. Asking again for the same mount at the same place is a no-op; asking for a
    different one where something is mounted already is refused.
    """

    def __init__(self, runner: Runner, root: Path) -> None:
        self.runner = runner
        self.root = root
        self._stacks = [ExitStack()]  # the tree's own, then each open scope's
        self._held: dict[Path, _Held] = {}
        self._own = MountScope(self, self._stacks[0])

    def bind(self, source: Path, target: str, *, read_only: bool = False) -> Path:
        """Bind-mount the host directory ``source`` at ``target`` in the tree; returns the
        host path of the mount point."""
        return self._own.bind(source, target, read_only=read_only)

    def mount(
        self, source: str, target: str, *, fstype: str | None = None, options: Sequence[str] = ()
    ) -> Path:
        """Mount ``source`` (``proc``, ``sysfs`` ...) of type ``fstype`` at ``target``."""
        return self._own.mount(source, target, fstype=fstype, options=options)

    def held(self, target: str) -> str | None:
        """The source mounted at ``target`` through this API, if any."""
        found = self._held.get(in_root(self.root, target))
        return found.source if found else None

    @contextmanager
    def scope(self) -> Iterator[MountScope]:
        """Mounts made through the scope are released (last first) when the block ends."""
        with ExitStack() as stack:
            self._stacks.append(stack)
            try:
                yield MountScope(self, stack)
            finally:
                if stack in self._stacks:  # not released already by release()
                    self._stacks.remove(stack)

    def release(self, *, leftovers: bool = False) -> None:
        """Release every mount registered here, last first. With ``leftovers``, also unmount
        what a hook mounted below the tree without registering it (saying so): call it only
        once nothing runs in the tree any more."""
        try:
            while len(self._stacks) > 1:
                self._stacks.pop().close()
            self._stacks[0].close()
        finally:
            if leftovers:
                unmount_all_under(self.runner, self.root)

    def _mount(self, wanted: _Held, target: str, stack: ExitStack) -> Path:
        """Mount ``wanted`` at ``target``, its release registered on ``stack``."""
        where = make_dir(self.root, target)
        held = self._held.get(where)
        if held == wanted:
            log.debug("%s is already mounted at %s", wanted.source, where)
            return where
        if held is not None or is_mounted(where):
            what = f"{held.source} is" if held else "something dibpy did not mount is"
            raise BuildError(
                f"Cannot mount {wanted.source} at {target} in the tree: {what} mounted there "
                "already. Mount it elsewhere, or use what is mounted there."
            )
        bind = wanted.fstype is None
        options = wanted.options
        mount(self.runner, wanted.source, where, fstype=wanted.fstype, options=options, bind=bind)
        self._held[where] = wanted
        stack.callback(self._unmount, where)
        if wanted.read_only:
            mount(self.runner, "none", where, options=("remount", "ro", "bind"))
        return where

    def _unmount(self, where: Path) -> None:
        self._held.pop(where, None)
        unmount(self.runner, where)


@dataclass(frozen=True)
class MountScope:
    """Mounts in the tree held for one ``with`` block (see :meth:`TreeMounts.scope`)."""

    tree: TreeMounts
    stack: ExitStack

    def bind(self, source: Path, target: str, *, read_only: bool = False) -> Path:
        return self.tree._mount(_Held(str(source), None, (), read_only), target, self.stack)

    def mount(
        self, source: str, target: str, *, fstype: str | None = None, options: Sequence[str] = ()
    ) -> Path:
        return self.tree._mount(_Held(source, fstype, tuple(options), False), target, self.stack)


def unmount_all_under(runner: Runner, directory: Path, *, keep: Path | None = None) -> None:
    """Unmount everything mounted at or below ``directory`` (deepest first) but ``keep``,
    warning about each: what is left there was mounted without being registered."""
    for leftover in mounts_under(directory):
        if keep is not None and leftover == keep.resolve():
            continue
        log.warning("Unmounting %s, which a hook left mounted", leftover)
        unmount(runner, leftover)


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal (``\\040``)."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)
