"""Read a legacy element into a :class:`Port`: the parts of its Python module, the files
kept beside it, and what is left to do by hand. Nothing is written here."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dibpy.elements.folder import INSTALL_TYPE_DIR, load_legacy_element, looks_like_element
from dibpy.elements.hooks import MAX_ORDER
from dibpy.elements.model import Element, Origin
from dibpy.errors import InputError
from dibpy.legacy.script import LegacyScript
from dibpy.phases import PHASES, Phase
from dibpy.port.environment import NotPlain, parse_environment

# Top-level files that become Python and are not kept.
CONVERTED_FILES = frozenset(
    {
        "element-deps",
        "element-provides",
        "package-installs.yaml",
        "package-installs.json",
        "pkg-map",
        "svc-map",
        "README.rst",
        "README.md",
    }
)
# Not kept: DIB's own tests of the element, Python's caches, the folder's own __init__.py
# (DIB's elements hold an empty one for their unit tests; the port writes its own).
DROPPED = frozenset({"tests", "__pycache__", "__init__.py"})
PHASE_FOLDERS = frozenset(f"{phase.value}.d" for phase in PHASES)
ENVIRONMENT_FOLDER = "environment.d"
# What dib-run-parts sources from environment.d (find -xtype f, then this name pattern).
SOURCED_NAME = re.compile(r"^[0-9A-Za-z_.-]+$")
# Names the generated module imports, which a hook function must not take.
RESERVED_NAMES = frozenset(
    {"Any", "BuildContext", "Path", "Phase", "run_kept_script"}
    | {f"{phase.value.replace('-', '_')}_hook" for phase in PHASES}
)


@dataclass(frozen=True)
class PortedHook:
    """One generated hook: the kept script it runs and the function that runs it."""

    phase: Phase
    order: int
    script: str
    function: str
    install_type: str | None = None  # the install.d/<prefix>-<type>-install folder

    @property
    def relative_path(self) -> str:
        """The kept script, relative to the package folder (and the hooks tree)."""
        folder = f"{self.phase.value}.d"
        if self.install_type is not None:
            folder += f"/{self.install_type}"
        return f"{folder}/{self.script}"


@dataclass
class Port:
    """What a legacy element becomes: the module's parts and the files kept beside it."""

    name: str
    source: Path
    doc: str
    depends: tuple[str, ...] = ()
    provides: tuple[str, ...] = ()
    environment: dict[str, str] = field(default_factory=dict)
    data: dict[str, dict[str, Any]] = field(default_factory=dict)  # PACKAGES, PKG_MAP, ...
    block_device_config: str | None = None  # the kept YAML file BLOCK_DEVICE_CONFIG reads
    hooks: list[PortedHook] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # paths relative to the element folder
    converted_environment: list[str] = field(default_factory=list)
    todo: list[str] = field(default_factory=list)


def read_element(directory: Path) -> Port:
    """Read the legacy element in ``directory`` into a :class:`Port`.

    InputError (exit 2) for a folder that is not a legacy element, is a Python element
    already, or holds files a legacy build refuses as well.
    """
    directory = Path(os.path.abspath(directory))  # `..` resolved, symlinks kept (the name)
    if not directory.is_dir():
        raise InputError(
            f"{directory} is not a directory. Give the folder of a DIB element (the one "
            "holding element-deps, install.d/, ...)."
        )
    init = directory / "__init__.py"
    if init.is_file() and init.read_bytes().strip():
        raise InputError(
            f"{directory} holds a non-empty __init__.py: it is a Python element already, "
            "not a DIB folder element. Nothing to port."
        )
    if not looks_like_element(directory):
        raise InputError(
            f"{directory} does not look like a DIB element: it has none of element-deps, "
            "element-provides, package-installs.yaml, pkg-map, environment.d/, static/, "
            "README.rst or a <phase>.d/ folder. Give the element's own folder."
        )
    name = directory.name
    # The legacy loader reads the metadata, so the port holds what a legacy build uses.
    element = load_legacy_element(name, directory, Origin("path", str(directory)))
    port = Port(
        name=name,
        source=directory,
        doc=_readme(directory, name),
        depends=element.depends,
        provides=element.provides,
    )
    for attribute in ("PACKAGES", "PKG_MAP", "SVC_MAP"):
        value = getattr(element.module, attribute, None)
        if value:
            port.data[attribute] = value
    _read_environment(port)
    _read_hooks(port, element)
    _read_kept(port)
    return port


def _readme(directory: Path, name: str) -> str:
    """README.rst (or README.md) without its title; a plain sentence when there is none."""
    for readme in ("README.rst", "README.md"):
        path = directory / readme
        if path.is_file():
            lines = path.read_text(errors="replace").expandtabs().splitlines()
            text = "\n".join(line.rstrip() for line in _without_title(lines)).strip()
            if text:
                return text
    return f"The {name} element."


def _without_title(lines: list[str]) -> list[str]:
    """``lines`` without a leading reStructuredText title (over- and underlined, or
    underlined) or Markdown ``#`` heading."""

    def rule(line: str) -> bool:
        text = line.strip()
        return len(text) >= 3 and len(set(text)) == 1 and text[0] in "=-~^*#+`'\""

    while lines and not lines[0].strip():
        lines = lines[1:]
    if len(lines) >= 3 and rule(lines[0]) and rule(lines[2]):
        return lines[3:]
    if len(lines) >= 2 and rule(lines[1]):
        return lines[2:]
    if lines and lines[0].startswith("# "):
        return lines[1:]
    return lines


def _read_environment(port: Port) -> None:
    folder = port.source / ENVIRONMENT_FOLDER
    if not folder.is_dir():
        return
    # dib-run-parts sources the files in C byte order; the first default of a variable wins.
    kept: list[tuple[str, str]] = []  # (relative path, text) of the files kept, in order
    for path in sorted(folder.iterdir(), key=lambda p: p.name.encode()):
        relative = f"{ENVIRONMENT_FOLDER}/{path.name}"
        if not SOURCED_NAME.match(path.name) or path.is_symlink() or not path.is_file():
            continue  # kept as it is: never sourced, or not a plain file to read
        try:
            text = path.read_text()
            defaults = parse_environment(text)
        except (NotPlain, UnicodeDecodeError) as exc:
            reason = exc if isinstance(exc, NotPlain) else "it is not UTF-8 text"
            port.todo.append(
                f"``{relative}`` is kept and still sourced, as under DIB: {reason}. Move its "
                "logic into the element's ENVIRONMENT, settings or hooks."
            )
            kept.append((relative, text if isinstance(exc, NotPlain) else ""))
            continue
        port.converted_environment.append(relative)
        for name, value in defaults.items():
            port.environment.setdefault(name, value)
            # ENVIRONMENT is set before any file is sourced; a kept file sourced earlier
            # saw the variable unset under DIB.
            for earlier, earlier_text in kept:
                if re.search(rf"\b{name}\b", earlier_text):
                    port.todo.append(
                        f"``{earlier}`` reads {name}, whose default (from ``{relative}``, "
                        "now in ENVIRONMENT) it saw unset under DIB, sourced before it. "
                        "Check that it does the same with the default set."
                    )


def _read_hooks(port: Port, element: Element) -> None:
    used = set(RESERVED_NAMES)
    for hook in element.hooks:
        script = hook.function
        assert isinstance(script, LegacyScript)  # noqa: S101 (narrows for mypy)
        relative = f"{hook.phase.value}.d/{hook.name}"
        if hook.phase is Phase.BLOCK_DEVICE:
            port.todo.append(
                f"``{relative}`` is kept but has no hook: dibpy makes disks without loop "
                "devices or mounts, so block-device.d scripts cannot run (a legacy build "
                "refuses them). Describe the layout in BLOCK_DEVICE_CONFIG or "
                "DIB_BLOCK_DEVICE_CONFIG."
            )
            continue
        order = min(hook.order, MAX_ORDER)
        if hook.order > MAX_ORDER:
            port.todo.append(
                f"``{relative}`` is numbered {hook.order}; a hook's order stops at "
                f"{MAX_ORDER}, so it runs at {MAX_ORDER} (after the other {MAX_ORDER}s of its "
                "phase whose names sort before it)."
            )
        base = f"{hook.phase.value}_{hook.name}"
        folder = None
        if script.install_type is not None:
            prefix, kind, folder = script.install_type
            base += f"_{kind}"
            port.todo.append(
                f"``install.d/{folder}/{hook.name}`` runs only when install type ``{kind}`` is "
                f"chosen for ``{prefix}`` (install-types links it into install.d, as DIB does)."
            )
        function = _identifier(base, used)
        port.hooks.append(PortedHook(hook.phase, order, hook.name, function, folder))
    _check_run_order(port)
    if port.hooks:
        port.todo.insert(
            0,
            "Each hook below runs the element's kept script with DIB's environment. "
            "Translate them to Python one at a time (docs/migrating.md), then delete the "
            "kept script a hook no longer runs.",
        )


def _identifier(base: str, used: set[str]) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", base)
    candidate, count = name, 1
    while candidate in used:
        count += 1
        candidate = f"{name}_{count}"
    used.add(candidate)
    return candidate


def _check_run_order(port: Port) -> None:
    """A hook's name is its function's, not its script's, and the name breaks ties of
    order: say so when that changes the order of this element's scripts."""
    for phase in PHASES:
        hooks = [h for h in port.hooks if h.phase is phase and h.install_type is None]
        legacy = [h.script for h in sorted(hooks, key=lambda h: (h.order, h.script))]
        ported = [h.script for h in sorted(hooks, key=lambda h: (h.order, h.function))]
        if legacy != ported:
            port.todo.append(
                f"The {phase} hooks run in another order than their scripts did "
                f"({', '.join(legacy)}): give them distinct orders."
            )


def _read_kept(port: Port) -> None:
    """Everything not turned into Python is kept, as DIB's hooks tree would hold it."""
    for entry in sorted(port.source.iterdir()):
        name = entry.name
        is_folder = entry.is_dir() and not entry.is_symlink()
        if name.startswith(".") or name in DROPPED:
            if name == "tests":
                port.todo.append("``tests/`` (DIB's functional tests) was not kept.")
            continue
        if name in CONVERTED_FILES and entry.is_file() and not entry.is_symlink():
            continue
        if name == ENVIRONMENT_FOLDER and is_folder:
            port.kept += [
                f"{name}/{p.name}"
                for p in sorted(entry.iterdir())
                if f"{name}/{p.name}" not in port.converted_environment
            ]
        else:
            if name in PHASE_FOLDERS and is_folder:
                _note_idle_files(port, entry)
            elif not is_folder:
                _note_top_level_file(port, name)
            port.kept.append(name)
    _note_escaping_links(port)


def _note_idle_files(port: Port, folder: Path) -> None:
    """Files of a phase folder that no legacy build runs: kept, and said so."""
    running = {h.relative_path for h in port.hooks}
    for entry in sorted(folder.iterdir()):
        relative = f"{folder.name}/{entry.name}"
        if folder.name == "install.d" and entry.is_dir() and INSTALL_TYPE_DIR.match(entry.name):
            continue  # its scripts are hooks (install types)
        if relative in running or folder.name == "block-device.d":
            continue  # block-device.d scripts have their own TODO
        port.todo.append(
            f"``{relative}`` is kept but never ran: dib-run-parts runs only executable files "
            "named with letters, digits, ``_`` and ``-``."
        )


def _note_top_level_file(port: Port, name: str) -> None:
    if name.startswith("block-device-") and name.endswith(".yaml"):
        if name == "block-device-default.yaml" and "block-device" in port.provides:
            port.block_device_config = name
            return
        port.todo.append(
            f"``{name}`` is kept, but dibpy reads the block-device layout from "
            "BLOCK_DEVICE_CONFIG of the element providing block-device (or "
            "DIB_BLOCK_DEVICE_CONFIG): set it if this element chooses the layout."
        )
        return
    # Any other top-level file (source-repository-*, svc-map, ...) is kept beside
    # __init__.py, and the hooks tree gets it at its top, as it gets a legacy element's.


def _note_escaping_links(port: Port) -> None:
    """A kept symbolic link that leaves the element's folder dangles in the package."""
    root = port.source.resolve()
    for relative in port.kept:
        top = port.source / relative
        paths = [top, *top.rglob("*")] if top.is_dir() and not top.is_symlink() else [top]
        for path in paths:
            link = os.readlink(path) if path.is_symlink() else ""
            if not link or os.path.isabs(link):
                continue  # an absolute link means a path in the image
            target = Path(os.path.normpath(path.parent.resolve() / link))
            if not target.is_relative_to(root):
                port.todo.append(
                    f"``{path.relative_to(port.source)}`` is a symbolic link to {link}, "
                    "outside the element: copied as a link, it points elsewhere from the "
                    "package folder."
                )
