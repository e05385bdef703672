"""The helper programs legacy element hooks call, and the data they read.

DIB's hooks call ``install-packages``, ``pkg-map``, ``svc-map`` and ``cache-url``, which DIB's
elements install into the image's ``/usr/local/bin`` (and the hooks tree's ``bin/``). Two of
them are Python in DIB, and a minimal Debian tree has no Python: dibpy ships all four as bash
scripts (``helpers/``) and resolves the maps here, before the hooks run, into flat files the
scripts read with nothing but bash:

- ``<hooks>/pkg-map.d/<element>``: ``NAME<TAB>PACKAGES`` per line, PACKAGES space-separated
  and empty when the map leaves the package out; ``.resolved-for`` holds
  ``DISTRO<TAB>RELEASE``.
- ``<hooks>/svc-map.d/services``: ``SERVICE<TAB>NAME`` per line.

``LIB_DIR`` holds what hooks source from DIB's ``$_LIB`` (``die``, ``img-functions``).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dibpy.elements.packages import FAMILIES, map_names
from dibpy.errors import ElementLoadError, SettingsError

log = logging.getLogger("dibpy.legacy")

_HERE = Path(__file__).resolve().parent
HELPERS_DIR: Path = _HERE / "helpers"
"""The helper programs, copied into the hooks tree's ``bin/`` by :func:`install_helpers`."""
LIB_DIR: Path = _HERE / "lib"
"""DIB's ``_LIB`` for legacy hooks: ``source "$_LIB/img-functions"``, ``"$_LIB/die"``."""

PKG_MAP_DIR = "pkg-map.d"
SVC_MAP_DIR = "svc-map.d"
RESOLVED_FOR = ".resolved-for"
SERVICES = "services"

_FORBIDDEN = ("\t", "\n", "\r", "\0")


def check_element_name(name: object) -> str:
    """``name``, if it can name a file in a flat-data folder: not empty, no ``/``, no
    leading ``.``, no tab, newline or NUL. Raises ElementLoadError otherwise."""
    if (
        not isinstance(name, str)
        or not name
        or "/" in name
        or name.startswith(".")
        or any(c in name for c in _FORBIDDEN)
    ):
        raise ElementLoadError(
            f"Element name {name!r} cannot be used: element names may not be empty, contain "
            "'/', tabs or newlines, or start with '.'."
        )
    return name


def _field(value: object, what: str) -> str:
    """A string that can go into one field of a flat file (no tab, newline or NUL)."""
    if not isinstance(value, str):
        raise ElementLoadError(f"{what} must be a string, not {value!r}.")
    if any(c in value for c in _FORBIDDEN):
        raise ElementLoadError(f"{what} ({value!r}) may not contain tabs or newlines.")
    return value


def _fresh_dir(path: Path) -> None:
    """Make ``path`` an empty directory, whatever was there (a symlink is removed, never
    followed)."""
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
    path.mkdir(parents=True)


def resolve_pkg_map(pkg_map: Mapping[str, Any], distro: str, release: str) -> dict[str, list[str]]:
    """Every name ``pkg_map`` defines for ``distro``/``release``, with its packages (``[]``:
    left out). Uses :func:`dibpy.elements.packages.map_names`; the names are those of the levels it
    merges (default, family, distro, release)."""
    names: set[str] = set()
    for path in (
        ("default",),
        ("family", FAMILIES.get(distro, distro)),
        ("distro", distro),
        ("release", distro, release),
    ):
        level: object = pkg_map
        for key in path:
            level = level.get(key) if isinstance(level, Mapping) else None
        if isinstance(level, Mapping):
            names.update(_field(name, "A pkg-map name") for name in level)
    return {name: map_names([name], pkg_map, distro, release) for name in sorted(names)}


def write_pkg_maps(
    hooks_dir: Path, pkg_maps: Mapping[str, Mapping[str, Any]], distro: str, release: str
) -> None:
    """Write ``<hooks_dir>/pkg-map.d/<element>`` for every element's pkg-map, resolved for
    ``distro`` and ``release``, replacing what was there. Every map is checked before any
    file is written; a bad one raises ElementLoadError naming its element."""
    resolved: dict[str, dict[str, list[str]]] = {}
    for element, pkg_map in pkg_maps.items():
        check_element_name(element)
        if not isinstance(pkg_map, Mapping):
            raise ElementLoadError(f"Element {element!r}: its pkg-map must be a mapping.")
        try:
            resolved[element] = resolve_pkg_map(pkg_map, distro, release)
        except ElementLoadError as exc:
            raise ElementLoadError(f"Element {element!r}: {exc}") from None
    for variable, value in (("DISTRO_NAME", distro), ("DIB_RELEASE", release)):
        if any(c in value for c in _FORBIDDEN):
            raise SettingsError(f"{variable} ({value!r}) may not contain tabs or newlines.")
    target = hooks_dir / PKG_MAP_DIR
    _fresh_dir(target)
    (target / RESOLVED_FOR).write_text(f"{distro}\t{release}\n")
    for element, names in resolved.items():
        lines = "".join(f"{name}\t{' '.join(packages)}\n" for name, packages in names.items())
        (target / element).write_text(lines)
    log.debug("Wrote the pkg-maps of %s to %s", ", ".join(resolved) or "no element", target)


def merge_svc_maps(svc_maps: Mapping[str, Mapping[str, Any] | None], distro: str) -> dict[str, str]:
    """DIB's merge of the elements' svc-map files (``10-merge-svc-map-files``), in element
    order: each service takes its ``distro`` entry, else its family's, else ``default``,
    else its own name. A service two elements define raises ElementLoadError."""
    family = FAMILIES.get(distro)
    merged: dict[str, str] = {}
    for element, services in svc_maps.items():
        if services is None:  # an empty svc-map file
            continue
        if not isinstance(services, Mapping):
            raise ElementLoadError(
                f"Element {element!r}: its svc-map must map service names to "
                "{distro or family or 'default': name}."
            )
        for service, names in services.items():
            _field(service, f"Element {element!r}: a svc-map service name")
            if service in merged:
                raise ElementLoadError(
                    f"{service} already found in services list. "
                    f"Check {element} for duplicate service name."
                )
            if not isinstance(names, Mapping):
                raise ElementLoadError(
                    f"Element {element!r}: svc-map entry {service!r} must map a distribution, "
                    "family or 'default' to a service name."
                )
            for key in (distro, family, "default"):
                if key is not None and key in names:
                    name = names[key]
                    break
            else:
                name = service
            merged[service] = _field(name, f"Element {element!r}: svc-map {service}[{key}]")
    return merged


def write_svc_map(
    hooks_dir: Path, svc_maps: Mapping[str, Mapping[str, Any]], distro: str, release: str
) -> None:
    """Write ``<hooks_dir>/svc-map.d/services``: the elements' svc-maps merged for
    ``distro`` (see :func:`merge_svc_maps`), replacing what was there. ``release`` is
    unused: DIB's svc-map has no per-release level; it is taken for symmetry with
    :func:`write_pkg_maps`."""
    del release
    merged = merge_svc_maps(svc_maps, distro)
    target = hooks_dir / SVC_MAP_DIR
    _fresh_dir(target)
    lines = "".join(f"{service}\t{name}\n" for service, name in sorted(merged.items()))
    (target / SERVICES).write_text(lines)
    log.debug("Wrote %d service names to %s", len(merged), target / SERVICES)


def install_helpers(hooks_dir: Path) -> None:
    """Copy the helper programs (``install-packages``, ``pkg-map``, ``svc-map``,
    ``cache-url``) into ``<hooks_dir>/bin/`` with mode 0755, from where install-bin puts
    them in the image's /usr/local/bin and host hooks run them as ``$TMP_HOOKS_PATH/bin/``.

    A file an element already placed in ``bin/`` under the same name wins: call this after
    merging the elements' ``bin/`` folders, and a user's element can replace a helper.
    A ``bin`` that is a symbolic link is refused (ElementLoadError), so nothing is written
    outside the hooks tree.
    """
    bin_dir = hooks_dir / "bin"
    if bin_dir.is_symlink():
        raise ElementLoadError(
            f"{bin_dir} is a symbolic link; an element's bin/ must be a real folder."
        )
    bin_dir.mkdir(parents=True, exist_ok=True)
    for helper in sorted(HELPERS_DIR.iterdir()):
        if helper.name.startswith(".") or not helper.is_file():
            continue
        destination = bin_dir / helper.name
        if destination.is_symlink() or destination.exists():
            log.info("Keeping the element's bin/%s instead of dibpy's", helper.name)
            continue
        shutil.copyfile(helper, destination)
        destination.chmod(0o755)
