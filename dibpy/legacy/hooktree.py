"""The merged hooks tree (DIB's ``TMP_HOOKS_PATH``), and DIB's duplicate-hook rule.

DIB copies every sub-folder of every element into one tree, so that a script finds its
siblings' data at ``$(dirname $0)/../bin``, ``../static``, ``../init-scripts``; and every
top-level file of an element (``source-repository-*``, ``package-installs.yaml``, ...) into
the tree's top, where the last copy wins. dibpy does the same for legacy elements and for
the data folders of Python package elements, so a ported element keeps its ``static/``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path

from dibpy.elements.model import Element, Hook
from dibpy.errors import InputError, ResolutionError
from dibpy.legacy.maps import install_helpers
from dibpy.legacy.script import install_driver, unsupported_block_device
from dibpy.phases import PHASES, Phase

SKIPPED_FOLDERS = frozenset({"tests", "__pycache__"})


def check_duplicate_scripts(hooks: Iterable[Hook]) -> None:
    """Two legacy elements with a script of the same name in one phase folder: DIB stops
    with "There is a duplicated hook in your elements"; so does dibpy, before building."""
    seen: dict[tuple[str, str], str] = {}
    for hook in hooks:
        if hook.kind != "legacy" or getattr(hook.function, "install_type", None) is not None:
            continue
        key = (hook.phase.value, hook.name)
        if key in seen and seen[key] != hook.element:
            raise ResolutionError(
                f"There is a duplicated hook in your elements: {hook.phase.value}.d/{hook.name} "
                f"is in both {seen[key]!r} and {hook.element!r}. DIB refuses this too; rename "
                "one of the scripts (its number and name must be unique per phase)."
            )
        seen[key] = hook.element


def assemble(elements: Iterable[Element], hooks: Path) -> None:
    """Merge every element's folders into ``hooks``, then add dibpy's driver, and the
    helper programs scripts call (install-packages, pkg-map, svc-map, cache-url) when an
    element has scripts: they reach the image's /usr/local/bin through install-bin."""
    hooks.mkdir(parents=True, exist_ok=True)
    elements = list(elements)
    for element in elements:
        source = element.data_dir
        if source is None:
            continue
        for entry in sorted(source.iterdir()):
            if entry.is_dir() and not entry.is_symlink():
                if entry.name not in SKIPPED_FOLDERS and not entry.name.startswith("."):
                    _merge(entry, hooks / entry.name)
            elif entry.is_file() and _is_data_file(element, entry):
                destination = hooks / entry.name
                if destination.is_symlink() or destination.is_file():
                    destination.unlink()
                shutil.copy2(entry, destination, follow_symlinks=True)
    install_driver(hooks)
    if any(_has_scripts(e) for e in elements):
        install_helpers(hooks)


def _is_data_file(element: Element, entry: Path) -> bool:
    """A top-level file the hooks tree gets: any of a legacy element's (not ``*.pyc``), and
    a package element's files other than its Python code (a ported element's
    ``source-repository-*``, say)."""
    if entry.suffix == ".pyc":
        return False
    return element.kind == "legacy" or entry.suffix not in (".py", ".pyi", ".typed")


def _has_scripts(element: Element) -> bool:
    """A legacy element, or a ported one that keeps its scripts' folders."""
    folder = element.data_dir
    if element.kind == "legacy":
        return True
    return folder is not None and any((folder / f"{p.value}.d").is_dir() for p in PHASES)


def _merge(source: Path, destination: Path) -> None:
    """``cp -a`` of ``source`` into ``destination``; sub-folders merge, symlinks stay links."""
    destination.mkdir(parents=True, exist_ok=True)
    shutil.copystat(source, destination)
    for entry in sorted(source.iterdir()):
        target = destination / entry.name
        if entry.is_dir() and not entry.is_symlink():
            _merge(entry, target)
            continue
        if target.is_symlink() or target.exists():
            target.unlink()
        if entry.is_symlink():
            target.symlink_to(entry.readlink())
        else:
            shutil.copy2(entry, target)


def check_supported(phases: Mapping[Phase, Iterable[Hook]]) -> None:
    """Refuse, before anything is made, a legacy hook dibpy cannot run (block-device.d)."""
    for hook in phases.get(Phase.BLOCK_DEVICE, ()):
        if hook.kind == "legacy":
            raise InputError(unsupported_block_device(hook.element, hook.name))
