"""Turn the requested element names into the set a build uses (pure; no I/O of its own).

DIB's rules, made deterministic: DEPENDS are expanded breadth-first; a name PROVIDEd by an
element of the set is satisfied by that element (even if a real element has that name);
exactly one element provides ``operating-system``; no name is provided twice; cycles are
fine. dibpy adds CONFLICTS. DIB's result is a set in hash order; ours is breadth-first.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from dibpy.elements.model import Element
from dibpy.errors import ElementNotFoundError, ResolutionError

OPERATING_SYSTEM = "operating-system"
BLOCK_DEVICE_PREFIX = "block-device-"


class Catalog(Protocol):
    """What resolution needs from an element index."""

    def get(self, name: str) -> Element: ...

    def not_found(self, name: str, needed_by: str | None = None) -> ElementNotFoundError: ...

    def providers(self, virtual: str) -> list[str]: ...


@dataclass(frozen=True)
class ElementSet:
    """The resolved elements, in resolution order, and who provides each virtual name."""

    elements: tuple[Element, ...]
    provided: dict[str, str]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(e.name for e in self.elements)


def with_defaults(names: Sequence[str], arch: str, *, skip_base: bool) -> list[str]:
    """DIB's additions to the command line: ``base`` first, and a block device for ``vm``.

    As in DIB, only the literal argument ``vm`` (not a ``vm`` pulled in as a dependency)
    brings the architecture's default block device, and only when no ``block-device-*``
    element was named.
    """
    result = list(names)
    if "vm" in result and not any(n.startswith(BLOCK_DEVICE_PREFIX) for n in result):
        result.append("block-device-efi" if arch == "arm64" else "block-device-mbr")
    if not skip_base and "base" not in result:
        result.insert(0, "base")
    return result


def resolve(requested: Sequence[str], catalog: Catalog) -> ElementSet:
    """Expand ``requested`` into the element set, or raise a ResolutionError/not-found."""
    if not requested:
        raise ResolutionError(
            "No elements were given. Name at least an operating system, "
            "e.g. `dibpy build vm debian-minimal`."
        )
    virtual: frozenset[str] = frozenset()
    # A provider found late in the walk can satisfy a name the walk already expanded as a
    # real element; walk again with what is now known to be provided until nothing changes.
    for _ in range(len(requested) + 32):
        elements, missing = _expand(requested, catalog, virtual)
        provided = frozenset(p for e in elements for p in e.provides)
        if provided == virtual:
            break
        virtual = provided
    else:  # pragma: no cover - needs providers that switch each other off indefinitely
        raise ResolutionError(f"The PROVIDES of {list(requested)} never settle; check them.")

    for name, needed_by in missing:
        if name not in provided:
            raise catalog.not_found(name, needed_by)
    providers = _providers(elements)
    _check_requested_not_virtual(requested, providers)
    _check_operating_system(providers, catalog)
    _check_conflicts(elements, providers)
    return ElementSet(tuple(elements), {name: who[0] for name, who in providers.items()})


def _expand(
    requested: Sequence[str], catalog: Catalog, virtual: frozenset[str]
) -> tuple[list[Element], list[tuple[str, str | None]]]:
    seen: set[str] = set()
    elements: list[Element] = []
    missing: list[tuple[str, str | None]] = []
    queue: deque[tuple[str, str | None]] = deque((name, None) for name in requested)
    while queue:
        name, needed_by = queue.popleft()
        if name in seen or (name in virtual and needed_by is not None):
            continue
        seen.add(name)
        try:
            element = catalog.get(name)
        except ElementNotFoundError:
            missing.append((name, needed_by))
            continue
        elements.append(element)
        queue.extend((dep, name) for dep in element.depends)
    return elements, missing


def _providers(elements: Sequence[Element]) -> dict[str, list[str]]:
    providers: dict[str, list[str]] = {}
    for element in elements:
        for name in element.provides:
            providers.setdefault(name, []).append(element.name)
    for name, who in providers.items():
        if len(who) > 1 and name != OPERATING_SYSTEM:
            raise ResolutionError(
                f"{name!r} is provided by both {who[0]!r} and {who[1]!r}; an image can have "
                "only one. Remove one of them from the command line or from the DEPENDS "
                "that pull it in."
            )
    return providers


def _check_requested_not_virtual(requested: Sequence[str], providers: dict[str, list[str]]) -> None:
    for name in requested:
        if name in providers:
            raise ResolutionError(
                f"{name!r} was asked for, but it is already provided by {providers[name][0]!r}. "
                f"Name either {name!r} or {providers[name][0]!r}, not both."
            )


def _check_operating_system(providers: dict[str, list[str]], catalog: Catalog) -> None:
    chosen = providers.get(OPERATING_SYSTEM, [])
    if len(chosen) > 1:
        raise ResolutionError(
            f"Two operating systems were chosen: {chosen[0]!r} and {chosen[1]!r} both provide "
            f"{OPERATING_SYSTEM!r}. An image has exactly one; keep one of them."
        )
    if not chosen:
        known = ", ".join(catalog.providers(OPERATING_SYSTEM)) or "none found"
        raise ResolutionError(
            f"No element provides {OPERATING_SYSTEM!r}: add one operating-system element to "
            f"the command line. Elements that provide it: {known}."
        )


def _check_conflicts(elements: Sequence[Element], providers: dict[str, list[str]]) -> None:
    chosen = {e.name for e in elements} | set(providers)
    for element in elements:
        for other in element.conflicts:
            if other in chosen and other != element.name:
                raise ResolutionError(
                    f"Element {element.name!r} conflicts with {other!r}, and both are in "
                    "this build. Remove one of them (or the element that depends on it)."
                )
