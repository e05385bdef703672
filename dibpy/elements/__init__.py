"""Elements: finding them, loading them, and resolving the set a build uses."""

from dibpy.elements.index import ElementIndex, ElementSource, builtin_elements_dir
from dibpy.elements.model import Element, Hook, Origin
from dibpy.elements.resolve import ElementSet, resolve, with_defaults

__all__ = [
    "Element",
    "ElementIndex",
    "ElementSet",
    "ElementSource",
    "Hook",
    "Origin",
    "builtin_elements_dir",
    "resolve",
    "with_defaults",
]
