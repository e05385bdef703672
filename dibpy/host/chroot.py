"""Running commands inside the target tree, with /proc, /sys and /dev mounted meanwhile."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from dibpy.host.mounts import TreeMounts
from dibpy.host.run import Result, Runner

log = logging.getLogger("dibpy.host.chroot")

# What DIB gives a chroot: a fixed PATH, HOME=/root, no TMPDIR or VIRTUAL_ENV of the host.
CHROOT_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "DEBIAN_FRONTEND": "noninteractive",
}
PASSED_THROUGH = (
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "TERM",
)


class Chroot:
    """Commands in ``root``. The API file systems are mounted for one ``session`` at a time.

    ``run`` opens a session just for its command unless one is open already, so a hook that
    runs many commands can hold one session: ``with ctx.chroot.session(): ...``.
    """

    def __init__(
        self,
        root: Path,
        runner: Runner,
        host_env: Mapping[str, str],
        *,
        mounts: TreeMounts | None = None,
    ) -> None:
        self.root = root
        self.runner = runner
        self.mounts = mounts or TreeMounts(runner, root)
        self.env = dict(CHROOT_ENV)
        self.env.update({k: host_env[k] for k in PASSED_THROUGH if host_env.get(k)})
        self._depth = 0

    def run(
        self,
        argv: Sequence[str],
        *,
        input: str | None = None,
        capture: bool = False,
        check: bool = True,
        env: Mapping[str, str] | None = None,
    ) -> Result:
        """Run ``argv`` in the tree (``chroot ROOT argv``) with the chroot's environment."""
        with self.session():
            return self.runner.run(
                ["chroot", self.root, *argv],
                env={**self.env, **(env or {})},
                input=input,
                capture=capture,
                check=check,
            )

    @contextmanager
    def session(self) -> Iterator[None]:
        """Mount proc, sys, dev and dev/pts in the tree, where the chroot sees them (their
        paths resolved inside the tree); on the way out, kill what is left running in the
        tree and unmount them (innermost first)."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        with self.mounts.scope() as scope:
            for source, target, fstype, options in (
                ("proc", "proc", "proc", ()),
                ("sysfs", "sys", "sysfs", ("ro",)),
            ):
                scope.mount(source, target, fstype=fstype, options=options)
            scope.bind(Path("/dev"), "dev")
            scope.bind(Path("/dev/pts"), "dev/pts")
            self._depth = 1
            try:
                yield
            finally:
                self._depth = 0
                self.kill_leftovers()  # first: nothing may hold the mounts

    def kill_leftovers(self) -> list[int]:
        """Kill every process whose root is this tree (a daemon a package started, say)."""
        return kill_processes_in(self.root)


def kill_processes_in(root: Path) -> list[int]:
    """Kill every process whose root directory is ``root`` or below it, saying which: SIGTERM,
    then SIGKILL for those still running after 5 seconds. Returns the pids SIGKILLed."""
    victims = processes_rooted_in(root)
    for pid, name in victims:
        log.warning("Killing process %d (%s) left running in the chroot %s", pid, name, root)
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while victims and time.monotonic() < deadline:
        victims = [(p, n) for p, n in victims if _alive(p)]
        time.sleep(0.05)
    for pid, _ in victims:
        _signal(pid, signal.SIGKILL)
    return [pid for pid, _ in victims]


def processes_rooted_in(root: Path) -> list[tuple[int, str]]:
    """(pid, command name) of processes whose root directory is ``root`` or below it."""
    root = root.resolve()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            proc_root = Path(os.readlink(entry / "root"))
            name = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if proc_root == root or root in proc_root.parents:
            found.append((int(entry.name), name))
    return found


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _alive(pid: int) -> bool:
    """Running (a zombie has finished; only its parent's wait() is left)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"
