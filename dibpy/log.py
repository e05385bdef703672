"""Logging for builds: readable lines on the terminal, timestamped lines in --log-file."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

LOGGER = logging.getLogger("dibpy")


def setup(*, debug: bool = False, quiet: bool = False, log_file: Path | None = None) -> None:
    """Configure the ``dibpy`` logger (the CLI calls this; library users bring their own)."""
    LOGGER.setLevel(logging.DEBUG)
    for handler in list(LOGGER.handlers):
        LOGGER.removeHandler(handler)
        handler.close()
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO)
    console.setFormatter(logging.Formatter("%(asctime)s.%(msecs)03d | %(message)s", "%H:%M:%S"))
    LOGGER.addHandler(console)
    if log_file is not None:
        to_file = logging.FileHandler(log_file)
        to_file.setLevel(logging.DEBUG)
        to_file.setFormatter(
            logging.Formatter(
                "%(asctime)s.%(msecs)03d | %(levelname)s %(name)s | %(message)s",
                "%Y-%m-%d %H:%M:%S",
            )
        )
        LOGGER.addHandler(to_file)
    LOGGER.propagate = False
