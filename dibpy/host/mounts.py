"""Mounting and unmounting, and reading the kernel's mount table."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

from dibpy.errors import BuildError, CommandError
from dibpy.host.run import Runner

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
