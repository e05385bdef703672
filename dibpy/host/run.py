"""The one way dibpy runs a program: argument lists, logged, timed, failures typed.

What is logged (the command line, each line of output) and raised has URL passwords
masked (``dibpy.redact``); the program itself gets its arguments unchanged.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from dibpy.errors import CommandError
from dibpy.redact import redact_url

log = logging.getLogger("dibpy.host.run")

TAIL_LINES = 20


@dataclass
class Result:
    """What a finished command gave back."""

    argv: list[str]
    returncode: int
    stdout: str
    seconds: float


@dataclass
class Runner:
    """Runs host commands; every subprocess of a build goes through one of these.

    ``env`` is the complete environment children get (the build decides it once), so no
    command sees more of the caller's environment than the build meant to pass on.
    """

    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    _running: set[subprocess.Popen[str]] = field(default_factory=set, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def run(
        self,
        argv: Sequence[str | os.PathLike[str]],
        *,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        input: str | None = None,
        capture: bool = False,
        check: bool = True,
    ) -> Result:
        """Run ``argv``; log its output line by line; raise CommandError on failure.

        With ``capture`` the standard output is returned instead of logged (standard error
        is still logged and kept for the error message).
        """
        if isinstance(argv, (str, bytes)):
            raise TypeError("Runner.run takes an argument list, never a shell string")
        args = [os.fspath(a) for a in argv]
        log.info("$ %s", redact_url(" ".join(args)))
        started = time.monotonic()
        try:
            proc = subprocess.Popen(
                args,
                cwd=cwd,
                env=dict(env if env is not None else self.env),
                stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE if capture else subprocess.STDOUT,
                text=True,
                errors="replace",
            )
        except OSError as exc:
            raise CommandError(args, 127, f"cannot start {args[0]}: {exc.strerror}") from exc
        with self._lock:
            self._running.add(proc)
        tail: deque[str] = deque(maxlen=TAIL_LINES)
        try:
            stdout = self._communicate(proc, input, capture, tail)
        except BaseException:
            _stop(proc)  # interrupted: let the child finish dying before we unwind
            raise
        finally:
            with self._lock:
                self._running.discard(proc)
        seconds = time.monotonic() - started
        log.debug("%s finished in %.2fs with status %d", args[0], seconds, proc.returncode)
        if check and proc.returncode != 0:
            raise CommandError(args, proc.returncode, "\n".join(tail))
        return Result(args, proc.returncode, stdout, seconds)

    def running(self) -> list[subprocess.Popen[str]]:
        """The children still running (the build waits for them when interrupted)."""
        with self._lock:
            return list(self._running)

    @staticmethod
    def _communicate(
        proc: subprocess.Popen[str], input: str | None, capture: bool, tail: deque[str]
    ) -> str:
        assert proc.stdout is not None  # noqa: S101 (narrows for mypy)
        if input is not None:
            assert proc.stdin is not None  # noqa: S101 (narrows for mypy)
            writer = threading.Thread(target=_feed, args=(proc.stdin, input), daemon=True)
            writer.start()
        if capture:
            assert proc.stderr is not None  # noqa: S101 (narrows for mypy)
            errors = threading.Thread(target=_drain, args=(proc.stderr, tail), daemon=True)
            errors.start()
            stdout = proc.stdout.read()
            errors.join()
        else:
            _drain(proc.stdout, tail)
            stdout = ""
        proc.wait()
        return stdout


def _stop(proc: subprocess.Popen[str], grace: float = 10.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _feed(stream: IO[str], data: str) -> None:
    try:
        stream.write(data)
    finally:
        stream.close()


def _drain(stream: IO[str], tail: deque[str]) -> None:
    for line in stream:
        line = redact_url(line.rstrip("\n"))
        tail.append(line)
        log.info("  %s", line)
    stream.close()
