"""Logging for builds: readable lines on the terminal, timestamped lines in --log-file.

Both handlers mask URL passwords in every record (``dibpy.redact.RedactFilter``), whichever
module logged it.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from rich.console import Console
from rich.text import Text

from dibpy.errors import InputError
from dibpy.redact import RedactFilter

LOGGER = logging.getLogger("dibpy")


class RichConsoleHandler(logging.Handler):
    """Log records printed through a rich Console, above its live progress display."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        try:
            style = "red" if record.levelno >= logging.ERROR else "yellow"
            text = Text(self.format(record), style=style if record.levelno >= 30 else "")
            self.console.print(text, soft_wrap=True)
        except Exception:
            self.handleError(record)


def setup(
    *,
    debug: bool = False,
    quiet: bool = False,
    log_file: Path | None = None,
    console: Console | None = None,
) -> None:
    """Configure the ``dibpy`` logger (the CLI calls this; library users bring their own).

    Without ``console``, records go to stderr as timestamped lines (INFO and up; DEBUG with
    ``debug``; WARNING and up when ``quiet``). With a rich ``console`` (the progress display)
    only warnings and errors are printed there, since the display shows the progress.
    ``log_file`` always gets every record, timestamped. URL passwords are masked in both.
    """
    LOGGER.setLevel(logging.DEBUG)
    for handler in list(LOGGER.handlers):
        LOGGER.removeHandler(handler)
        handler.close()
    shown: logging.Handler
    if console is not None:
        shown = RichConsoleHandler(console)
        shown.setLevel(logging.DEBUG if debug else logging.WARNING)
        shown.setFormatter(logging.Formatter("%(message)s"))
    else:
        shown = logging.StreamHandler(sys.stderr)
        shown.setLevel(logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO)
        shown.setFormatter(logging.Formatter("%(asctime)s.%(msecs)03d | %(message)s", "%H:%M:%S"))
    shown.addFilter(RedactFilter())
    LOGGER.addHandler(shown)
    if log_file is not None:
        try:
            to_file = logging.FileHandler(log_file)
        except OSError as exc:
            raise InputError(
                f"--log-file {log_file}: cannot write the log there ({exc.strerror}). "
                "Give a file in an existing, writable directory (create it first with "
                "mkdir -p), or leave --log-file out."
            ) from None
        to_file.setLevel(logging.DEBUG)
        to_file.setFormatter(
            logging.Formatter(
                "%(asctime)s.%(msecs)03d | %(levelname)s %(name)s | %(message)s",
                "%Y-%m-%d %H:%M:%S",
            )
        )
        to_file.addFilter(RedactFilter())
        LOGGER.addHandler(to_file)
    LOGGER.propagate = False
