"""Import element modules, each load a fresh module, and collect their hooks."""

from __future__ import annotations

import importlib.util
import itertools
import sys
import traceback
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

from dibpy.elements.hooks import MARK, HookMark
from dibpy.elements.model import Element, Hook, Origin
from dibpy.errors import DibError, ElementLoadError

_load_count = itertools.count()


def load_file_element(name: str, path: Path, origin: Origin, package: str | None = None) -> Element:
    """Load ``NAME.py`` or ``NAME/__init__.py`` as a new module and read the element in it.

    Every call gives a new module object under a unique name, so two builds in one process
    each get their own copy and no state leaks between them. ``package``: the package an
    installed (entry-point) module belongs to, so that its relative imports still work.
    """
    module_name = f"_dibpy_element_{next(_load_count)}_{_identifier(name)}"
    is_package = path.name == "__init__.py"
    package_dir = [str(path.parent)] if is_package else None
    spec = importlib.util.spec_from_file_location(
        module_name, path, submodule_search_locations=package_dir
    )
    if spec is None or spec.loader is None:
        raise ElementLoadError(f"Element {name!r}: {path} cannot be imported as a Python module.")
    module = importlib.util.module_from_spec(spec)
    if package is not None:
        module.__package__ = package
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except DibError as exc:
        sys.modules.pop(module_name, None)
        raise type(exc)(f"Element {name!r} ({_where_raised(exc, path)}): {exc}") from exc
    except SyntaxError as exc:
        sys.modules.pop(module_name, None)
        raise ElementLoadError(
            f"Element {name!r} has a syntax error at {exc.filename}:{exc.lineno}: {exc.msg}. "
            "Fix the element file and run again."
        ) from exc
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise ElementLoadError(
            f"Element {name!r} failed to import ({_where_raised(exc, path)}): "
            f"{type(exc).__name__}: {exc}. Fix the element or install what it imports."
        ) from exc
    try:
        return element_from_module(name, module, origin)
    except ElementLoadError as exc:
        raise ElementLoadError(f"{exc} (in {path})") from None


def element_from_module(name: str, module: ModuleType, origin: Origin) -> Element:
    """Read DEPENDS/PROVIDES/CONFLICTS and the marked hooks of an imported module."""
    return Element(
        name=name,
        origin=origin,
        doc=module.__doc__ or "",
        depends=_names(module, "DEPENDS", name),
        provides=_names(module, "PROVIDES", name),
        conflicts=_names(module, "CONFLICTS", name),
        environment=_environment(module, name),
        hooks=tuple(_hooks(module, name)),
        module=module,
    )


def _hooks(module: ModuleType, element: str) -> Iterable[Hook]:
    prefix = module.__name__ + "."
    for attribute, value in vars(module).items():
        mark = getattr(value, MARK, None)
        if not isinstance(mark, HookMark):
            continue
        owner = getattr(value, "__module__", "")
        if owner != module.__name__ and not owner.startswith(prefix):
            continue  # a hook imported from another element is that element's hook
        doc = (getattr(value, "__doc__", None) or "").strip()
        yield Hook(
            phase=mark.phase,
            order=mark.order,
            name=attribute,
            element=element,
            function=value,
            doc=doc.splitlines()[0] if doc else "",
        )


def _names(module: ModuleType, attribute: str, element: str) -> tuple[str, ...]:
    value = getattr(module, attribute, ())
    if isinstance(value, str) or not isinstance(value, (list, tuple, set, frozenset)):
        raise ElementLoadError(
            f"Element {element!r} declares {attribute} = {value!r}; it must be a list of "
            f'element names, e.g. {attribute} = ["dpkg"].'
        )
    bad = [item for item in value if not isinstance(item, str) or not item]
    if bad:
        raise ElementLoadError(
            f"Element {element!r} has {attribute} entries that are not element names: {bad!r}."
        )
    return tuple(value)


def _environment(module: ModuleType, element: str) -> dict[str, str]:
    value = getattr(module, "ENVIRONMENT", {})
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ElementLoadError(
            f"Element {element!r} declares ENVIRONMENT = {value!r}; it must be a dict of "
            'variable names to string defaults, e.g. ENVIRONMENT = {"DIB_RELEASE": "noble"}.'
        )
    return dict(value)


def _identifier(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name)


def _where_raised(exc: BaseException, path: Path) -> str:
    """The innermost frame in the element's own files, else the innermost frame."""
    frames = traceback.extract_tb(exc.__traceback__)
    folder = str(path.parent)
    own = [f for f in frames if f.filename.startswith(folder)]
    frame = (own or frames)[-1] if frames else None
    return f"{frame.filename}:{frame.lineno}" if frame else str(path)
