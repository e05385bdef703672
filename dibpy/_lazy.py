"""Public names loaded on first use (PEP 562), for ``dibpy`` and ``dibpy.author``.

A package lists each public name with the module that defines it; the module is imported
when the name is first read. ``import dibpy`` then costs nothing, and planning, which loads
element modules that import these names, loads no build machinery it does not use.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def exports(
    namespace: dict[str, Any],
    names: Mapping[str, str],
    modules: Mapping[str, str] | None = None,
    also: Iterable[str] = (),
) -> tuple[list[str], Callable[[str], object], Callable[[], list[str]]]:
    """``__all__``, ``__getattr__`` and ``__dir__`` for a module whose ``names`` map each
    public name to its defining module, whose ``modules`` map attribute names to public
    submodules (``dibpy.apt``), and which defines the names in ``also`` itself.

    For type checkers, the module also imports each name under ``TYPE_CHECKING`` in the
    re-exporting form ``from x import name as name``.
    """
    modules = modules or {}
    public = sorted({*names, *modules, *also})
    owner = namespace["__name__"]

    def getattr_(name: str) -> object:
        if name in modules:
            return importlib.import_module(modules[name])
        if name in names:
            value = getattr(importlib.import_module(names[name]), name)
            namespace[name] = value  # later reads are plain attribute lookups
            return value
        raise AttributeError(f"module {owner!r} has no attribute {name!r}")

    def dir_() -> list[str]:
        return public

    return public, getattr_, dir_
