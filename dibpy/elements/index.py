"""Find elements: --element-path dirs, ELEMENTS_PATH, entry points, the built-ins, then the
elements of an installed diskimage-builder.

Earlier sources override later ones, as DIB's ELEMENTS_PATH does: an element in a user's
directory replaces the built-in element of the same name (and the override is logged), and
dibpy's Python elements replace DIB's folders of the same name. In a directory, ``NAME.py``
and ``NAME/__init__.py`` are Python elements; a folder holding DIB's element files
(``element-deps``, ``install.d/``, ...) is a legacy element.
"""

from __future__ import annotations

import difflib
import importlib.util
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

from dibpy.elements.folder import load_legacy_element, looks_like_element
from dibpy.elements.loader import load_file_element
from dibpy.elements.model import Element, Origin
from dibpy.errors import ElementLoadError, ElementNotFoundError, InputError

log = logging.getLogger("dibpy.elements")

ENTRY_POINT_GROUP = "dibpy.elements"
DIB_KIND = "diskimage-builder"
DIB_HINT = (
    " DIB's own elements are found when diskimage-builder is installed beside dibpy: "
    "pip install 'dibpy[dib-elements]'."
)


def dib_elements_dir() -> Path | None:
    """The elements folder of an installed diskimage-builder (not imported), if any."""
    try:
        spec = importlib.util.find_spec("diskimage_builder")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "elements"
    return folder if folder.is_dir() else None


def builtin_elements_dir() -> Path:
    """The built-in elements: inside the wheel, or ``elements/`` of a source checkout."""
    package = Path(__file__).resolve().parent.parent
    installed = package / "_builtin_elements"
    return installed if installed.is_dir() else package.parent / "elements"


@dataclass(frozen=True)
class ElementSource:
    """An element found but not yet imported."""

    name: str
    origin: Origin
    path: Path | None = None  # NAME.py or NAME/__init__.py
    entry_point: EntryPoint | None = None
    folder: Path | None = None  # a legacy (DIB folder) element

    @property
    def kind(self) -> str:
        """``python`` or ``legacy``."""
        return "legacy" if self.folder is not None else "python"


class ElementIndex:
    """Every element reachable from an element path, loaded on first use (once per index)."""

    def __init__(self, sources: Iterable[ElementSource], searched: Sequence[str]) -> None:
        self._sources: dict[str, ElementSource] = {}
        for source in sources:
            winner = self._sources.get(source.name)
            if winner is None:
                self._sources[source.name] = source
            else:
                log.debug(
                    "Element %s from %s overrides %s", source.name, winner.origin, source.origin
                )
        self.searched = tuple(searched)
        self._loaded: dict[str, Element] = {}
        self.has_dib = True  # discover() says whether DIB's elements were searched

    @classmethod
    def discover(
        cls,
        element_paths: Sequence[Path] = (),
        elements_path_env: str = "",
        *,
        use_entry_points: bool = True,
        use_dib: bool = True,
    ) -> ElementIndex:
        """Index ``--element-path`` dirs, then ELEMENTS_PATH, entry points, built-ins, and
        last an installed diskimage-builder's elements (``use_dib``)."""
        user_dirs = [Path(p) for p in element_paths]
        user_dirs += [Path(p) for p in elements_path_env.split(":") if p]
        sources: list[ElementSource] = []
        for directory in user_dirs:
            sources += _scan_directory(directory, "path")
        if use_entry_points:
            sources += _scan_entry_points()
        builtin = builtin_elements_dir()
        sources += _scan_directory(builtin, "built-in")
        searched = [str(d) for d in user_dirs]
        if use_entry_points:
            searched.append(f"entry points {ENTRY_POINT_GROUP!r}")
        searched.append(str(builtin))
        dib = dib_elements_dir() if use_dib else None
        if dib is not None:
            sources += _scan_directory(dib, DIB_KIND, python_modules=False)
            searched.append(f"{dib} (diskimage-builder)")
        index = cls(sources, searched)
        index.has_dib = dib is not None or not use_dib
        return index

    def names(self) -> list[str]:
        """Every element name found, sorted."""
        return sorted(self._sources)

    def source(self, name: str) -> ElementSource:
        """Where ``name`` comes from; ElementNotFoundError if it is nowhere."""
        try:
            return self._sources[name]
        except KeyError:
            raise self.not_found(name) from None

    def get(self, name: str) -> Element:
        """Load ``name`` (once per index) and return it."""
        if name not in self._loaded:
            try:
                self._loaded[name] = _load(self.source(name))
            except ElementLoadError as exc:
                exc.element = exc.element or name  # the field programs read
                raise
        return self._loaded[name]

    def providers(self, virtual: str) -> list[str]:
        """Names of every element that PROVIDES ``virtual`` (imports them all)."""
        found = []
        for name in self.names():
            try:
                element = self.get(name)
            except ElementLoadError:
                continue  # a broken element elsewhere must not hide this answer
            if virtual in element.provides:
                found.append(name)
        return found

    def not_found(self, name: str, needed_by: str | None = None) -> ElementNotFoundError:
        """The error for an unknown name: where we looked, and close names."""
        close = difflib.get_close_matches(name, self.names(), n=3, cutoff=0.6)
        needed = f" (needed by {needed_by!r})" if needed_by else ""
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        error = ElementNotFoundError(
            f"Element {name!r}{needed} was not found. Searched: {'; '.join(self.searched)}."
            f"{hint} Add its directory with --element-path or ELEMENTS_PATH."
            f"{'' if self.has_dib else DIB_HINT}"
        )
        error.element = name
        return error


def _scan_directory(
    directory: Path, kind: str, *, python_modules: bool = True
) -> list[ElementSource]:
    if not directory.is_dir():
        raise InputError(
            f"Element path entry {str(directory)!r} is not a directory. Check --element-path "
            "and ELEMENTS_PATH (a colon-separated list of directories)."
        )
    found = []
    for entry in sorted(directory.iterdir()):
        if entry.name.startswith((".", "_")):
            continue
        if not python_modules:  # DIB's folders: some hold an __init__.py for DIB's own tests
            if entry.is_dir():
                found.append(ElementSource(entry.name, Origin(kind, str(entry)), folder=entry))
        elif entry.suffix == ".py" and entry.is_file():
            found.append(ElementSource(entry.stem, Origin(kind, str(entry)), path=entry))
        elif (entry / "__init__.py").is_file() and not _dib_folder_with_tests(entry):
            init = entry / "__init__.py"
            found.append(ElementSource(entry.name, Origin(kind, str(init)), path=init))
        elif entry.is_dir() and looks_like_element(entry):
            found.append(ElementSource(entry.name, Origin(kind, str(entry)), folder=entry))
    return found


def _dib_folder_with_tests(folder: Path) -> bool:
    """DIB's folder copied onto the element path: its empty ``__init__.py`` is there for
    DIB's own unit tests (svc-map, package-installs, cache-url), not a Python element, which
    would have hooks or metadata in it."""
    return (folder / "__init__.py").stat().st_size == 0 and looks_like_element(folder)


def _scan_entry_points() -> list[ElementSource]:
    return [
        ElementSource(ep.name, Origin("entry-point", ep.value), entry_point=ep)
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)
    ]


def _load(source: ElementSource) -> Element:
    if source.folder is not None:
        return load_legacy_element(source.name, source.folder, source.origin)
    if source.path is not None:
        return load_file_element(source.name, source.path, source.origin)
    assert source.entry_point is not None  # noqa: S101 (narrows for mypy)
    module_name = source.entry_point.module
    try:
        spec = importlib.util.find_spec(module_name)
    except Exception as exc:
        spec = None
        reason = f"{type(exc).__name__}: {exc}"
    else:
        reason = "the module was not found"
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        raise ElementLoadError(
            f"Element {source.name!r} (entry point {source.entry_point.value!r}) failed to "
            f"import: {reason}. Reinstall the package that provides it."
        )
    # A fresh copy per load, as for elements in directories (see load_file_element).
    package = module_name if spec.submodule_search_locations else module_name.rpartition(".")[0]
    return load_file_element(source.name, Path(spec.origin), source.origin, package or None)
