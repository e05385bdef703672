"""Offline means offline: a network namespace with only loopback up, for chroot commands.

With ``DIB_OFFLINE``/``--offline`` every command in the chroot runs in a network namespace of
its own in which ``lo`` is the only interface (up, so local daemons and tests work) and there
are no routes, so a hook that tries to download fails at once ("Network is unreachable")
instead of quietly fetching.

The namespace is made once per build: a short-lived thread unshares its network namespace
(``unshare(CLONE_NEWNET)`` acts on the calling thread only), brings ``lo`` up over netlink
with pyroute2, and opens ``/proc/thread-self/ns/net``; that descriptor keeps the namespace
alive. Each chroot command enters it with ``setns`` between fork and exec. Nothing is mounted
(no ``/run/netns`` entry) and no ``ip`` command is run; closing the descriptor frees it.
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading

from dibpy.errors import BuildError

log = logging.getLogger("dibpy.host.netns")

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, call: str) -> None:
    if result != 0:
        number = ctypes.get_errno()
        raise OSError(number, f"{call}: {os.strerror(number)}")


class OfflineNetwork:
    """A network namespace with only loopback; ``enter`` is a ``preexec_fn``."""

    def __init__(self) -> None:
        self._fd: int | None = None

    def open(self) -> None:
        """Make the namespace (once); raises BuildError when the kernel refuses."""
        if self._fd is not None:
            return
        made: dict[str, int] = {}
        failed: list[BaseException] = []

        def make() -> None:
            try:
                _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
                _loopback_up()
                made["fd"] = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            except BaseException as exc:  # reported by the caller's thread
                failed.append(exc)

        thread = threading.Thread(target=make, name="dibpy-offline-netns")
        thread.start()
        thread.join()
        if failed:
            raise BuildError(
                f"Offline mode (DIB_OFFLINE) runs chroot commands without a network, in a "
                f"network namespace of their own, but one could not be made: {failed[0]}. "
                "Run dibpy as root (or with CAP_SYS_ADMIN)."
            ) from failed[0]
        self._fd = made["fd"]
        log.info("Offline: chroot commands run in a network namespace with only loopback")

    def enter(self) -> None:
        """Join the namespace; called in the child between fork and exec."""
        if self._fd is None:
            raise OSError("the offline network namespace is not open")
        _check(_libc.setns(self._fd, CLONE_NEWNET), "setns")

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _loopback_up() -> None:
    """Set ``lo`` up in this thread's network namespace, over netlink."""
    from pyroute2 import IPRoute  # type: ignore[import-untyped]  # only offline builds need it

    with IPRoute() as ipr:
        (index,) = ipr.link_lookup(ifname="lo")
        ipr.link("set", index=index, state="up")
