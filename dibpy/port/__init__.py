"""``dibpy port DIR``: turn a legacy (DIB folder) element into a Python element package.

The package builds the same image as the folder it came from:

- ``element-deps``/``element-provides`` become ``DEPENDS``/``PROVIDES``;
  ``package-installs.yaml`` (or ``.json``), ``pkg-map`` and ``svc-map`` become ``PACKAGES``,
  ``PKG_MAP`` and ``SVC_MAP``, read by the same code that reads a legacy element, so the
  values are the ones a legacy build uses;
- an ``environment.d`` file made only of plain defaults (see ``dibpy.port.environment``)
  becomes ``ENVIRONMENT``; any other file is kept, and is still sourced as under DIB;
- every script a legacy build runs becomes a hook that runs the kept script
  (``dibpy.run_kept_script``), marked TODO for translation;
- everything else (``static/``, ``init-scripts/``, ``bin/``, the phase folders, other
  top-level files) is kept as data beside ``__init__.py``; the sub-folders are merged into
  the hooks tree, where the kept scripts find them. ``tests/`` (DIB's own tests) is not kept;
- ``README.rst`` becomes the module docstring, followed by the TODO list.

The package is written into a temporary folder beside its destination and renamed into
place, so a failed port leaves nothing behind. ``reading`` works out the port,
``render`` writes the module, ``environment`` reads environment.d files.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from dibpy.errors import InputError
from dibpy.port.environment import NotPlain, parse_environment
from dibpy.port.reading import Port, PortedHook, read_element
from dibpy.port.render import render_module

__all__ = [
    "NotPlain",
    "Port",
    "PortResult",
    "PortedHook",
    "iter_todo",
    "parse_environment",
    "port",
    "read_element",
    "render_module",
]


@dataclass(frozen=True)
class PortResult:
    """Where the package was written and what is left to do by hand."""

    package: Path
    hooks: int
    environment: int
    todo: tuple[str, ...]


def port(source: Path, output: Path, *, force: bool = False) -> PortResult:
    """Write the Python element package of the legacy element ``source`` as
    ``output/NAME``. An existing ``output/NAME`` is refused unless ``force``; a failed port
    leaves nothing behind (InputError, exit 2, for what the user can fix)."""
    the_port = read_element(source)
    output = output.absolute()
    destination = output / the_port.name
    _check_destination(the_port.source, destination, force=force)
    text = render_module(the_port)
    missing = [p for p in (output, *output.parents) if not p.exists()]
    staging = None
    try:
        output.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{the_port.name}.port-", dir=output))
        for relative in the_port.kept:
            _copy(the_port.source / relative, staging / relative)
        (staging / "__init__.py").write_text(text)
        shutil.copymode(the_port.source, staging)
        _replace(staging, destination)
    except BaseException as exc:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        for folder in missing:  # the folders this call made, innermost first
            with contextlib.suppress(OSError):
                folder.rmdir()
        if isinstance(exc, OSError):
            raise InputError(
                f"Cannot write the port of {the_port.source} to {destination}: "
                f"{exc.strerror or exc} ({exc.filename or destination}). Nothing was written."
            ) from exc
        raise
    return PortResult(
        package=destination,
        hooks=len(the_port.hooks),
        environment=len(the_port.environment),
        todo=tuple(the_port.todo),
    )


def _check_destination(source: Path, destination: Path, *, force: bool) -> None:
    resolved_source, resolved = source.resolve(), destination.resolve()
    if resolved == resolved_source or resolved.is_relative_to(resolved_source):
        raise InputError(
            f"The port would be written to {destination}, inside the element it comes from "
            f"({source}). Choose another output directory with -o."
        )
    if resolved_source.is_relative_to(resolved):
        raise InputError(
            f"The port would replace {destination}, which holds the element it comes from "
            f"({source}). Choose another output directory with -o."
        )
    if (destination.exists() or destination.is_symlink()) and not force:
        raise InputError(
            f"{destination} exists already. Remove it, choose another directory with -o, "
            "or give --force to replace it."
        )
    if destination.exists() and not destination.is_dir():
        raise InputError(f"{destination} exists and is not a directory; remove it first.")


def _copy(source: Path, destination: Path) -> None:
    """``cp -a`` without owners: modes kept, symlinks kept as links."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir() and not source.is_symlink():
        shutil.copytree(
            source,
            destination,
            symlinks=True,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
    else:
        shutil.copy2(source, destination, follow_symlinks=False)


def _replace(staging: Path, destination: Path) -> None:
    if not destination.exists() and not destination.is_symlink():
        staging.rename(destination)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{destination.name}.old-", dir=destination.parent))
    previous = old / destination.name
    destination.rename(previous)
    try:
        staging.rename(destination)
    except BaseException:
        previous.rename(destination)
        old.rmdir()
        raise
    shutil.rmtree(old)


def iter_todo(result: PortResult) -> Iterator[str]:
    """The TODO list as lines for a terminal."""
    for item in result.todo:
        yield from textwrap.wrap(
            item.replace("``", "`"),
            100,
            initial_indent="  - ",
            subsequent_indent="    ",
            break_long_words=False,
            break_on_hyphens=False,
        )
