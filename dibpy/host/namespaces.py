"""The kernel calls a build's isolation needs and Python 3.11 lacks: ``unshare``, making the
mount tree private, mounting a fresh ``/proc``, a parent-death signal, and bringing ``lo`` up.

They go straight to libc through ctypes (``os.unshare`` arrives only in Python 3.12), so that
no program is run and nothing is logged before the build's own logging is set up.
"""

from __future__ import annotations

import ctypes
import os
import signal

CLONE_NEWNS = 0x00020000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REC = 0x4000
MS_PRIVATE = 0x40000
PR_SET_PDEATHSIG = 1

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, call: str) -> None:
    if result != 0:
        number = ctypes.get_errno()
        raise OSError(number, f"{call}: {os.strerror(number)}")


def unshare(flags: int) -> None:
    """``unshare(2)``: the calling process leaves the namespaces named by ``flags``
    (``CLONE_NEWNS`` only in a single-threaded process; ``CLONE_NEWPID`` applies to the
    children forked afterwards)."""
    _check(_libc.unshare(flags), f"unshare({flags:#x})")


def make_mounts_private() -> None:
    """Mark every mount of this mount namespace private (``mount --make-rprivate /``): what
    is mounted or unmounted here from now on never propagates to the host, nor back."""
    _check(_libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "mount(/, MS_PRIVATE)")


def mount_proc() -> None:
    """Mount a ``/proc`` of this process's pid namespace over the host's (in a private mount
    namespace), so that pids read from ``/proc`` are the ones ``kill`` takes here."""
    flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
    _check(_libc.mount(b"proc", b"/proc", b"proc", flags, None), "mount(proc, /proc)")


def die_with_parent(sig: signal.Signals = signal.SIGKILL) -> None:
    """Ask the kernel to send ``sig`` to this process when its parent ends."""
    _check(_libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0), "prctl(PR_SET_PDEATHSIG)")


def loopback_up() -> None:
    """Set ``lo`` up in this process's network namespace, over netlink (no ``ip`` command)."""
    from pyroute2 import IPRoute  # type: ignore[import-untyped]  # only offline builds need it

    with IPRoute() as ipr:
        (index,) = ipr.link_lookup(ifname="lo")
        ipr.link("set", index=index, state="up")
