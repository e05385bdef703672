"""Turning the finished tree into the requested outputs, each written beside its final
path and renamed into place only when complete."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from dibpy.errors import InputError
from dibpy.run import Runner

log = logging.getLogger("dibpy.outputs")

Writer = Callable[[Path, Path, Runner], None]


def write_tar(tree: Path, destination: Path, runner: Runner) -> None:
    """A tarball of the tree with numeric owners and xattrs, as DIB's ``-t tar``."""
    runner.run(
        [
            "tar",
            "--numeric-owner",
            "--xattrs",
            "--xattrs-include=*",
            "-C",
            tree,
            "-cf",
            destination,
            ".",
        ]
    )


WRITERS: dict[str, Writer] = {"tar": write_tar}


def check_formats(formats: Sequence[str]) -> None:
    """Refuse, before building, a known format this version cannot write yet."""
    missing = [f for f in formats if f not in WRITERS]
    if missing:
        raise InputError(
            f"Output format {', '.join(missing)} is not implemented yet: this version of "
            f"dibpy writes {', '.join(sorted(WRITERS))} only (disk image formats arrive "
            "with the block-device work). Use `-t tar`."
        )


def check_writable(destination: Path) -> None:
    folder = destination.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(
            f"Cannot write the output {destination}: {folder} is not a writable directory. "
            "Create it or choose another -o."
        )


def write_outputs(tree: Path, destinations: dict[str, Path], runner: Runner) -> list[Path]:
    """Write every format; returns the paths written."""
    written = []
    for fmt, destination in destinations.items():
        with _atomic(destination) as partial:
            WRITERS[fmt](tree, partial, runner)
        log.info("Wrote %s", destination)
        written.append(destination)
    return written


@contextmanager
def _atomic(destination: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``destination``; rename it there only on success."""
    partial = destination.with_name(f".{destination.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        yield partial
        os.replace(partial, destination)
    finally:
        partial.unlink(missing_ok=True)
