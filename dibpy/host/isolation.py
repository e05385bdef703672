"""Nothing outlives the build: each build runs in a process of its own, in namespaces of its
own, and reports back to the caller.

``run_isolated(work, on_message)`` forks twice::

    caller (dibpy, or the program calling dibpy.build)     relays messages, logs, the outcome
      └─ keeper: unshare(mount, pid[, net]); / made private  waits, so the build has a parent
           └─ the build: pid 1 of its pid namespace, a /proc of its own, runs ``work``

Every mount the build makes (its tmpfs, the chroot's /proc, /sys and /dev, bind mounts of
the cache) is in the private mount namespace, so none of them shows in, or propagates to,
the host's table, and the kernel takes them all down when the namespace's last process
ends. The build is pid 1 of its pid namespace, so when it ends, however it ends, the kernel
kills every process left in the namespace (a command still running in the chroot, a daemon
a package started). Both children die with their parent (``PR_SET_PDEATHSIG``): a SIGKILL
of the caller ends the keeper, which ends the build, which ends the rest. Offline, the
keeper also unshares a network namespace in which only ``lo`` is up, so every socket of the
build, from a chroot command, a host command or a hook's own Python, has no route out.

Files stay where they are: the mount namespace starts as a copy of the host's, so outputs,
the image cache and the log file are written to the host's file systems as before.

The children form a process group of their own: SIGINT and SIGTERM that reach the caller are
sent to that group (the build unwinds as it always did, and the command it runs gets the
signal too, as Ctrl-C in a terminal gives it), once, whether they came from a terminal or
from ``kill``. What the build reports crosses a pipe, pickled: ``on_message`` payloads, every
log record (handled again by the caller's loggers, so its handlers, the progress view and
``--log-file`` see them), then the result, or the exception with the same type, message and
fields (its traceback in the build's process is added as a note). Each ``on_message`` payload
waits for the caller's acknowledgement, given once the callback has returned: when the
callback raises, the build is signalled before it goes on, so it stops where it was, not
after racing ahead of a busy caller.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import select
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection, Pipe
from types import FrameType
from typing import Any, TypeVar

from dibpy.errors import BuildError
from dibpy.host import namespaces

log = logging.getLogger("dibpy.host.isolation")

M = TypeVar("M")
R = TypeVar("R")

FORWARDED = (signal.SIGINT, signal.SIGTERM)


def run_isolated(
    work: Callable[[Callable[[M], None]], R],
    on_message: Callable[[M], None] | None = None,
    *,
    offline: bool = False,
) -> R:
    """Run ``work(send)`` in a forked child in namespaces of its own (see the module) and
    return what it returns, or raise what it raises. Each ``send(message)`` in the child
    reaches ``on_message`` here, in order, on this thread. When ``on_message`` raises, the
    build is stopped as by SIGTERM, and once it has cleaned up that exception is raised."""
    reader, writer = Pipe(duplex=False)
    acks, acknowledge = Pipe(duplex=False)  # the caller's word that a message was handled
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    caller = os.getpid()
    # A signal arriving around the fork waits (blocked) until a handler for it is in place,
    # here and in the children, rather than killing the keeper or being lost.
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
    try:
        pid = os.fork()
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        raise
    if pid == 0:  # pragma: no cover (the child ends in os._exit; its work is tested)
        status = 70
        try:
            reader.close()
            acknowledge.close()
            status = _keeper(work, writer, acks, caller, offline)
        finally:
            os._exit(status)
    writer.close()
    acks.close()
    with contextlib.suppress(OSError):  # the keeper does it too: whichever runs first
        os.setpgid(pid, pid)
    try:
        with _forwarding(pid):
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            outcome = _relay(reader, acknowledge, on_message, pid)
    except BaseException:  # the caller is interrupted: the build unwinds, then it is waited for
        _signal_group(pid, signal.SIGTERM)
        raise
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        reader.close()
        acknowledge.close()
        _, status = os.waitpid(pid, 0)
    if outcome is None:
        raise BuildError(
            f"The build's process ended without reporting ({_how(status)}). It ran in "
            "namespaces of its own: nothing it mounted or started is left on the host."
        )
    kind, payload = outcome
    if kind == "error":
        raise payload
    result: R = payload
    return result


def _relay(
    reader: Connection,
    acknowledge: Connection,
    on_message: Callable[[Any], None] | None,
    pid: int,
) -> tuple[str, Any] | None:
    """Hand on what the build sends until it closes the pipe; return its outcome. Each
    message is acknowledged once handled (after the SIGTERM, when the handler raised)."""
    outcome: tuple[str, Any] | None = None
    failure: BaseException | None = None
    while True:
        try:
            kind, payload = reader.recv()
        except EOFError:
            break
        if kind == "log":
            logging.getLogger(payload.name).handle(payload)
        elif kind == "message":
            if on_message is not None and failure is None:
                try:
                    on_message(payload)
                except BaseException as exc:  # the caller's own: stop the build, then raise it
                    failure = exc
                    _signal_group(pid, signal.SIGTERM)
            with contextlib.suppress(OSError):  # the build has gone: nobody waits
                acknowledge.send_bytes(b"")
        else:
            outcome = (kind, payload)
    if failure is not None:
        return ("error", failure)
    return outcome


@contextlib.contextmanager
def _forwarding(pid: int) -> Iterator[None]:
    """While the build runs, SIGINT and SIGTERM to this process go to the build's group."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def forward(signum: int, frame: FrameType | None) -> None:
        _signal_group(pid, signal.Signals(signum))

    previous = {s: signal.signal(s, forward) for s in FORWARDED}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def _how(status: int) -> str:
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    if code > 128 and code - 128 in signal.valid_signals():
        return f"killed by {signal.Signals(code - 128).name}"
    return f"exit status {code}"


# --- in the children ---------------------------------------------------------------------


def _keeper(
    work: Callable[[Callable[[Any], None]], Any],
    writer: Connection,
    acks: Connection,
    caller: int,
    offline: bool,
) -> int:
    """The first child: make the namespaces, start the build in them, wait for it."""
    os.setpgid(0, 0)
    namespaces.die_with_parent()
    if os.getppid() != caller:  # the caller died before the line above took effect
        return 1
    flags = namespaces.CLONE_NEWNS | namespaces.CLONE_NEWPID
    if offline:
        flags |= namespaces.CLONE_NEWNET
    try:
        namespaces.unshare(flags)
        namespaces.make_mounts_private()
        if offline:
            namespaces.loopback_up()
    except Exception as exc:
        writer.send(("error", _namespace_error(exc, offline)))
        return 1
    # SIGINT and SIGTERM are still blocked (see run_isolated): the build unblocks them once
    # its handlers are in place; the keeper ignores them.
    lifeline, keeper_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(keeper_end)
        _build_process(work, writer, acks, lifeline, offline)
    os.close(lifeline)
    writer.close()
    acks.close()
    for sig in FORWARDED:
        signal.signal(sig, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _namespace_error(exc: Exception, offline: bool) -> BuildError:
    which = "mount, pid and network" if offline else "mount and pid"
    return BuildError(
        f"dibpy runs each build in {which} namespaces of its own, so that nothing it mounts "
        f"or starts can outlive it, but the kernel refused to make them: {exc}. Run dibpy as "
        "root (or with CAP_SYS_ADMIN)."
    )


def _build_process(
    work: Callable[[Callable[[Any], None]], Any],
    writer: Connection,
    acks: Connection,
    lifeline: int,
    offline: bool,
) -> None:  # pragma: no cover (ends in os._exit)
    """The second child, pid 1 of the new pid namespace: run the build and report."""
    status = 0
    send = _Sender(writer, acks)
    try:
        namespaces.die_with_parent()
        if select.select([lifeline], [], [], 0)[0]:  # EOF: the keeper has gone already
            os._exit(1)
        try:
            namespaces.mount_proc()
        except OSError as exc:
            send.send("error", _namespace_error(exc, offline))
            os._exit(1)
        # pid 1 gets a signal from outside its namespace only if it has a handler for it.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, _interrupt)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)
        _relay_logs(send)
        try:
            result = work(send.message)
        except BaseException as exc:
            send.outcome("error", exc)
        else:
            send.outcome("result", result)
    except BaseException:
        status = 70
    finally:
        os._exit(status)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


class _Sender:
    """The child's end of the pipes; any thread of the build may send."""

    def __init__(self, writer: Connection, acks: Connection) -> None:
        self.writer = writer
        self.acks = acks
        self.lock = threading.Lock()

    def send(self, kind: str, payload: object) -> None:
        with self.lock:
            self.writer.send((kind, payload))

    def message(self, payload: object) -> None:
        """Send ``payload`` and wait until the caller has handled it."""
        with self.lock:
            self.writer.send(("message", payload))
            with contextlib.suppress(EOFError):  # the caller has gone: nothing to wait for
                self.acks.recv_bytes()

    def outcome(self, kind: str, payload: object) -> None:
        if kind == "error":
            assert isinstance(payload, BaseException)  # noqa: S101 (narrows for mypy)
            payload = _picklable(payload)
        self.send(kind, payload)


def _picklable(exc: BaseException) -> BaseException:
    """``exc``, its traceback noted, with whatever of it cannot cross the pipe made text."""
    if exc.__traceback__ is not None:
        exc.add_note("In the build's process:\n" + "".join(traceback.format_exception(exc)))
    try:
        pickle.dumps(exc)
    except Exception:
        for name, value in list(vars(exc).items()):
            try:
                pickle.dumps(value)
            except Exception:
                setattr(exc, name, RuntimeError(f"{type(value).__name__}: {value}"))
        try:
            pickle.dumps(exc)
        except Exception:
            return BuildError(f"{type(exc).__name__}: {exc}")
    return exc


class _LogRelay(logging.Handler):
    """Sends each record to the caller, whose loggers handle it."""

    def __init__(self, sender: _Sender) -> None:
        super().__init__(logging.NOTSET)
        self.sender = sender

    def emit(self, record: logging.LogRecord) -> None:
        try:
            shipped = logging.makeLogRecord(vars(record))
            shipped.msg, shipped.args = record.getMessage(), None
            if record.exc_info:
                shipped.exc_text = logging.Formatter().formatException(record.exc_info)
            shipped.exc_info = None
            self.sender.send("log", shipped)
        except Exception:
            self.handleError(record)


def _relay_logs(sender: _Sender) -> None:
    """Records logged in the build go to the caller instead of the handlers inherited with
    the fork (a terminal drawn by the caller, a log file the caller writes)."""
    relay = _LogRelay(sender)
    for name in ("", "dibpy"):
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.addHandler(relay)
    logging.getLogger("dibpy").propagate = False
