"""Read a DIB folder element into the same ``Element`` a Python module gives.

A legacy element is a directory holding DIB's element files. Its metadata becomes what a
Python element declares: ``element-deps`` → ``DEPENDS``, ``element-provides`` →
``PROVIDES``, ``package-installs.yaml``/``.json`` → ``PACKAGES``, ``pkg-map`` → ``PKG_MAP``,
``svc-map`` → ``SVC_MAP``, ``block-device-default.yaml`` → ``BLOCK_DEVICE_CONFIG``. They are
set on a module object made for the element, so every
piece of dibpy that reads a module attribute (package-installs, pkg-map, ``dibpy show``)
serves legacy elements unchanged. Every executable script of a ``<phase>.d/`` folder whose
name dib-run-parts accepts becomes a hook, ordered by its leading number.
"""

from __future__ import annotations

import json
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from dibpy.elements.model import Element, Hook, Origin
from dibpy.errors import ElementLoadError
from dibpy.legacy.script import LegacyScript
from dibpy.phases import PHASES, Phase

# dib-run-parts' RUN_PARTS_REGEX: no dots, so ``foo.sh`` and ``README.rst`` never run.
SCRIPT_NAME = re.compile(r"^[0-9A-Za-z_-]+$")
# ``install.d/<prefix>-<type>-install/``: scripts that run only for the chosen install type.
INSTALL_TYPE_DIR = re.compile(r"^(?P<prefix>.+)-(?P<type>[^-]+)-install$")
_LEADING_NUMBER = re.compile(r"^[0-9]+")

# The files and folders that make a directory a DIB element, for telling one from a stray
# folder on the element path (DIB itself takes every folder).
MARKERS = (
    "element-deps",
    "element-provides",
    "package-installs.yaml",
    "package-installs.json",
    "pkg-map",
    "svc-map",
    "environment.d",
    "static",
    "bin",
    "init-scripts",
    "README.rst",
    "README.md",
)


def looks_like_element(directory: Path) -> bool:
    """True for a folder with any of DIB's element files or phase folders."""
    if any((directory / marker).exists() for marker in MARKERS):
        return True
    return any((directory / f"{phase.value}.d").is_dir() for phase in PHASES)


def script_order(name: str) -> int:
    """``sort -n``'s key: the leading number, 0 when there is none (it then runs first)."""
    match = _LEADING_NUMBER.match(name)
    return int(match.group()) if match else 0


def load_legacy_element(name: str, directory: Path, origin: Origin) -> Element:
    """The element in ``directory``; ElementLoadError for files DIB would also refuse."""
    module = ModuleType(f"_dibpy_legacy_{name}", _summary(directory))
    module.DEPENDS = _names(directory / "element-deps")  # type: ignore[attr-defined]
    module.PROVIDES = _names(directory / "element-provides")  # type: ignore[attr-defined]
    packages = _packages(name, directory)
    if packages:
        module.PACKAGES = packages  # type: ignore[attr-defined]
    default_layout = directory / "block-device-default.yaml"
    if default_layout.is_file():  # what the block-device element's Python twin declares
        module.BLOCK_DEVICE_CONFIG = default_layout.read_text()  # type: ignore[attr-defined]
    for attribute, filename in (("PKG_MAP", "pkg-map"), ("SVC_MAP", "svc-map")):
        data = _data_file(name, directory / filename)
        if data is not None:
            setattr(module, attribute, data)
    return Element(
        name=name,
        origin=origin,
        doc=module.__doc__ or "",
        depends=tuple(module.DEPENDS),
        provides=tuple(module.PROVIDES),
        hooks=tuple(sorted(_hooks(name, directory), key=_run_order)),
        module=module,
        kind="legacy",
        folder=directory,
    )


def _run_order(hook: Hook) -> tuple[int, tuple[int, str, str]]:
    return PHASES.index(hook.phase), hook.sort_key


def phase_scripts(folder: Path) -> Iterator[Path]:
    """The scripts dib-run-parts would run from ``folder``: executable regular files (or
    symlinks to them) directly in it, with names of letters, digits, ``_`` and ``-``."""
    if not folder.is_dir():
        return
    for entry in sorted(folder.iterdir()):
        if not SCRIPT_NAME.match(entry.name):
            continue
        try:
            info = entry.stat()
        except OSError:
            continue  # a dangling symlink: `find -xtype f` skips it too
        if stat.S_ISREG(info.st_mode) and info.st_mode & 0o111:
            yield entry


def _hooks(element: str, directory: Path) -> Iterator[Hook]:
    for phase in PHASES:
        folder = directory / f"{phase.value}.d"
        for script in phase_scripts(folder):
            yield _hook(element, phase, script.name)
        if phase is Phase.INSTALL and folder.is_dir():
            for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
                match = INSTALL_TYPE_DIR.match(sub.name)
                if match is None:
                    continue
                for script in phase_scripts(sub):
                    yield _hook(
                        element,
                        phase,
                        script.name,
                        install_type=(match["prefix"], match["type"], sub.name),
                    )


def _hook(
    element: str,
    phase: Phase,
    script: str,
    install_type: tuple[str, str, str] | None = None,
) -> Hook:
    doc = "in the chroot" if phase in LegacyScript.CHROOT_PHASES else "on the host"
    if install_type is not None:
        doc += f", from install.d/{install_type[2]}/ when install type {install_type[1]!r}"
    return Hook(
        phase=phase,
        order=script_order(script),
        name=script,
        element=element,
        function=LegacyScript(element, phase, script, install_type),
        doc=doc,
        kind="legacy",
    )


def _names(path: Path) -> list[str]:
    """One name per line, blank lines dropped; a missing file is an empty list."""
    if not path.is_file():
        return []
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def _packages(element: str, directory: Path) -> dict[str, Any]:
    for filename in ("package-installs.yaml", "package-installs.json"):
        data = _data_file(element, directory / filename)
        if data is not None:
            return data
    return {}


def _data_file(element: str, path: Path) -> dict[str, Any] | None:
    """A YAML (or JSON, which YAML reads too) mapping; None when the file is missing."""
    if not path.is_file():
        return None
    try:
        text = path.read_text()
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, ValueError, UnicodeDecodeError) as exc:
        raise ElementLoadError(
            f"Element {element!r}: {path} cannot be read: {' '.join(str(exc).split())}. "
            "Fix the file's syntax."
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ElementLoadError(
            f"Element {element!r}: {path} must hold a mapping, not {type(data).__name__}."
        )
    return data


def _summary(directory: Path) -> str:
    """The first sentence-like line of README.rst after its title, as the element's doc."""
    for readme in ("README.rst", "README.md"):
        path = directory / readme
        if not path.is_file():
            continue
        try:
            lines = path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        for line in lines:
            text = line.strip()
            title = text.lstrip("#").strip() == directory.name
            markup = text.startswith(("..", ":")) or set(text) <= set("=-~#*^")
            if not text or title or markup:  # RST titles, targets and directives
                continue
            return text
    return ""
