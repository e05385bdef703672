"""Files elements write beside the image: baremetal's ``NAME.vmlinuz`` and ``NAME.initrd``.

A hook names a file of the tree with ``ctx.outputs.add(".vmlinuz", path, mode)``; the build
copies it to ``NAME.vmlinuz`` (NAME being ``-o``) when it writes the image: atomically (a
temporary file beside it, renamed), recorded in the manifest with its checksum, and removed
again when the build fails after writing it, as the image is (``formats.write_output_files``).
The file is read when the outputs are written, so a later hook may still change it. This
module is the registry only: planning loads it, and none of the build machinery.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from dibpy.errors import BuildError

SUFFIX = re.compile(r"\.[A-Za-z0-9][A-Za-z0-9_.-]*")


@dataclass(frozen=True)
class OutputFile:
    """``source`` (a host path, in the tree) written as ``NAME<suffix>`` with ``mode``."""

    suffix: str
    source: Path
    mode: int


class OutputFiles:
    """The files the build's elements asked to write beside the image, by suffix."""

    def __init__(self) -> None:
        self._files: dict[str, OutputFile] = {}

    def add(self, suffix: str, source: Path, mode: int = 0o644) -> None:
        """Write ``source`` as ``NAME<suffix>`` at the end of the build (a later ``add`` of
        the same suffix replaces it)."""
        if not SUFFIX.fullmatch(suffix):
            raise BuildError(
                f"An output file's suffix must be like '.vmlinuz' (a dot, then letters, "
                f"digits, '.', '_' or '-'), not {suffix!r}."
            )
        self._files[suffix] = OutputFile(suffix, source, mode)

    def destinations(self, name: str) -> dict[Path, OutputFile]:
        """Where each file goes, for the image ``name`` (``-o``, without a format)."""
        return {Path(f"{name}{f.suffix}").absolute(): f for f in self._files.values()}
