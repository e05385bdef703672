"""Typed events a build reports while it runs (``dibpy.build(..., on_event=callback)``).

Every event is a frozen dataclass; ``at`` is the wall-clock time (``time.time()``) when it
happened. ``dibpy.build`` calls ``on_event`` on the thread that called it: the build runs in
a child process (``dibpy.host.isolation``) and its events are relayed as they happen, in
this order::

    BuildStarted
      PhaseStarted                      (for each phase that has hooks)
        HookStarted, [DownloadProgress | LogLine ...], HookFinished   (for each hook)
      PhaseFinished
    OutputWritten ...                   (for each output, after the cleanup phase)
    BuildFinished                       (only when the build succeeded)

``LogLine`` events carry every record of the ``dibpy`` logger (command lines, their output,
warnings) at any point in between. The CLI's progress display is one consumer of these; a
tool that wraps dibpy can record them, show its own progress, or ignore them.

Text an event carries (``LogLine.message``, ``DownloadProgress.url``) has URL passwords
masked (``dibpy.redact``), whoever made the event.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from dibpy.phases import Phase
from dibpy.redact import RedactFilter, redact_url


def _now() -> float:
    return time.time()


@dataclass(frozen=True)
class BuildStarted:
    """The inputs were checked and the build directory is about to be made."""

    image_name: str
    elements: tuple[str, ...]
    formats: tuple[str, ...]
    at: float = field(default_factory=_now)


@dataclass(frozen=True)
class PhaseStarted:
    """A phase begins; ``hooks`` is how many hooks it will run."""

    phase: Phase
    hooks: int
    at: float = field(default_factory=_now)


@dataclass(frozen=True)
class HookStarted:
    """A hook begins (``order`` as the element declared it)."""

    phase: Phase
    element: str
    hook: str
    order: int
    at: float = field(default_factory=_now)


@dataclass(frozen=True)
class HookFinished:
    """A hook returned; ``seconds`` is how long it ran."""

    phase: Phase
    element: str
    hook: str
    seconds: float
    at: float = field(default_factory=_now)


@dataclass(frozen=True)
class PhaseFinished:
    """Every hook of a phase returned; ``seconds`` is the phase's run time."""

    phase: Phase
    seconds: float
    at: float = field(default_factory=_now)


@dataclass(frozen=True)
class DownloadProgress:
    """Bytes of ``url`` (its password redacted) received so far; ``total`` when known."""

    url: str
    done: int
    total: int | None
    at: float = field(default_factory=_now)

    def __post_init__(self) -> None:
        object.__setattr__(self, "url", redact_url(self.url))


@dataclass(frozen=True)
class LogLine:
    """One record of the ``dibpy`` logger: ``level`` is logging's (20 INFO, 30 WARNING...)."""

    level: int
    logger: str
    message: str
    at: float = field(default_factory=_now)

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", redact_url(self.message))


@dataclass(frozen=True)
class OutputWritten:
    """An output file is complete: its size in bytes and SHA256."""

    path: Path
    format: str
    size: int
    sha256: str
    at: float = field(default_factory=_now)


@dataclass(frozen=True)
class BuildFinished:
    """The build succeeded; ``manifest`` is where NAME.manifest.json was written (if it was)."""

    seconds: float
    outputs: tuple[Path, ...]
    manifest: Path | None
    at: float = field(default_factory=_now)


Event = (
    BuildStarted
    | PhaseStarted
    | HookStarted
    | HookFinished
    | PhaseFinished
    | DownloadProgress
    | LogLine
    | OutputWritten
    | BuildFinished
)
"""Any event a build reports."""

EventCallback = Callable[[Event], None]
"""What ``on_event`` is: called with each event, on the thread that called the build."""


class _LogForwarder(logging.Handler):
    """Turns records of the ``dibpy`` logger into LogLine events (never re-entrantly)."""

    def __init__(self, callback: EventCallback) -> None:
        super().__init__(logging.DEBUG)
        self.addFilter(RedactFilter())
        self.callback = callback
        self._busy = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(self._busy, "on", False):  # the callback itself logged: do not loop
            return
        self._busy.on = True
        try:
            self.callback(LogLine(record.levelno, record.name, record.getMessage(), record.created))
        except Exception:
            self.handleError(record)
        finally:
            self._busy.on = False


@contextmanager
def forwarding_logs(callback: EventCallback | None) -> Iterator[None]:
    """While inside, every record of the ``dibpy`` logger also reaches ``callback``.

    The logger is process-wide: two builds running at once in two threads each see the
    other's lines too. DEBUG records arrive only if the logger is set to DEBUG.
    """
    if callback is None:
        yield
        return
    logger = logging.getLogger("dibpy")
    handler = _LogForwarder(callback)
    previous_level = logger.level
    if logger.getEffectiveLevel() > logging.INFO:  # INFO lines are what a build reports
        logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous_level)


__all__ = [
    "BuildFinished",
    "BuildStarted",
    "DownloadProgress",
    "Event",
    "EventCallback",
    "HookFinished",
    "HookStarted",
    "LogLine",
    "OutputWritten",
    "PhaseFinished",
    "PhaseStarted",
    "forwarding_logs",
]
