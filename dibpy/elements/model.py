"""What an element is once loaded: its metadata and its hooks."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from dibpy.elements.hooks import HookFunction
from dibpy.phases import Phase


@dataclass(frozen=True)
class Hook:
    """One hook of one element, as the plan orders it."""

    phase: Phase
    order: int
    name: str
    element: str
    function: HookFunction = field(compare=False, repr=False)
    doc: str = ""
    kind: str = "python"  # "python", or "legacy" for a script of a DIB folder element

    @property
    def sort_key(self) -> tuple[int, str, str]:
        """dib-run-parts' file-name order: number, then name; the element breaks ties."""
        return (self.order, self.name, self.element)


@dataclass(frozen=True)
class Origin:
    """Where an element was found: a directory on the element path, or an entry point."""

    kind: str  # "path", "built-in" or "entry-point"
    location: str  # the file, or the entry point's module

    def __str__(self) -> str:
        return f"{self.kind} {self.location}"


@dataclass(frozen=True)
class Element:
    """A loaded element module."""

    name: str
    origin: Origin
    doc: str
    depends: tuple[str, ...] = ()
    provides: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()
    environment: dict[str, str] = field(default_factory=dict)
    hooks: tuple[Hook, ...] = ()
    module: ModuleType | None = field(default=None, compare=False, repr=False)
    kind: str = "python"  # "python", or "legacy" for a DIB folder element
    folder: Path | None = None  # a legacy element's folder

    @property
    def summary(self) -> str:
        """The first line of the element's docstring."""
        return self.doc.strip().splitlines()[0] if self.doc.strip() else ""

    @property
    def directory(self) -> Path | None:
        """The folder holding the element's data files: a legacy element's folder, or the
        package folder of a Python package element (``NAME/__init__.py``)."""
        if self.folder is not None:
            return self.folder
        if self.module is None or self.module.__file__ is None:
            return None
        return Path(self.module.__file__).parent

    @property
    def data_dir(self) -> Path | None:
        """The folder whose sub-folders (``bin/``, ``static/``, ``init-scripts/``, the
        ``*.d/`` hook folders) are merged into the hooks tree; None for a one-file module."""
        if self.folder is not None:
            return self.folder
        if self.module is None or self.module.__file__ is None:
            return None
        path = Path(self.module.__file__)
        return path.parent if path.name == "__init__.py" else None
