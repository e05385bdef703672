"""``dibpy show ELEMENT`` and ``dibpy elements``: what the elements are, without building.

An element is a Python module or a legacy (DIB folder) element; both are described with the
same keys, so a script reading ``dibpy show --json`` needs no second code path. The files a
folder holds (``environment.d/``, ``static/``, ``source-repository-*``...) are listed for a
legacy element and for a Python package element that ships them.
"""

from __future__ import annotations

import inspect
from typing import Any

from pydantic_core import PydanticUndefined

from dibpy.config.settings import ElementSettings
from dibpy.elements import Element, ElementIndex
from dibpy.elements.index import DIB_KIND, dib_elements_dir
from dibpy.errors import ElementLoadError
from dibpy.host.tools import declared_tools
from dibpy.phases import PHASES


def settings_classes(element: Element) -> list[type[ElementSettings]]:
    """The ElementSettings subclasses an element's module declares (or imports)."""
    if element.module is None:
        return []
    return [
        value
        for value in vars(element.module).values()
        if inspect.isclass(value)
        and issubclass(value, ElementSettings)
        and value is not ElementSettings
    ]


def _type_name(annotation: Any) -> str:
    name = getattr(annotation, "__name__", None) if not hasattr(annotation, "__args__") else None
    return (name or str(annotation)).replace("pathlib.", "").replace("typing.", "")


def describe_settings(cls: type[ElementSettings]) -> list[dict[str, Any]]:
    """One entry per field: the variable it reads, its type, default and description."""
    rows = []
    for field_name, info in cls.model_fields.items():
        default = info.get_default(call_default_factory=True)
        rows.append(
            {
                "variable": str(info.validation_alias or field_name),
                "type": _type_name(info.annotation),
                "default": None if default is PydanticUndefined else _plain(default),
                "required": info.is_required(),
                "description": info.description or "",
                "class": cls.__name__,
            }
        )
    return rows


def _plain(value: Any) -> Any:
    """A JSON-ready form of a default value."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


# The folders of an element that are copied, not run: install-static, install-bin and
# dib-init-system's inputs.
DATA_FOLDERS = ("static", "bin", "init-scripts")


def folder_files(element: Element) -> dict[str, Any]:
    """What the element's folder holds besides hooks: environment.d files, data folders,
    source-repository files. Empty lists for a one-file Python element."""
    folder = element.data_dir
    if folder is None:
        return {"environment_d": [], "data": [], "source_repositories": []}
    environment = folder / "environment.d"
    return {
        "environment_d": sorted(p.name for p in environment.iterdir() if p.is_file())
        if environment.is_dir()
        else [],
        "data": [f"{name}/" for name in DATA_FOLDERS if (folder / name).is_dir()],
        "source_repositories": sorted(
            p.name for p in folder.glob("source-repository-*") if p.is_file()
        ),
    }


def element_info(index: ElementIndex, name: str) -> dict[str, Any]:
    """What ``dibpy show --json`` prints for element ``name``."""
    element = index.get(name)
    packages = getattr(element.module, "PACKAGES", None) if element.module else None
    host_tools = getattr(element.module, "HOST_TOOLS", None) if element.module else None
    return {
        "name": element.name,
        "kind": element.kind,
        "doc": element.doc.strip(),
        "origin": element.origin.kind,
        "location": element.origin.location,
        "folder": str(element.folder) if element.folder is not None else None,
        "depends": list(element.depends),
        "provides": list(element.provides),
        "conflicts": list(element.conflicts),
        "environment": dict(element.environment),
        "packages": sorted(packages) if isinstance(packages, dict) else [],
        "pkg_map": hasattr(element.module, "PKG_MAP"),
        "svc_map": hasattr(element.module, "SVC_MAP"),
        **folder_files(element),
        "host_tools": declared_tools(name, host_tools) if host_tools is not None else {},
        "hooks": {
            phase.value: [
                {"order": h.order, "hook": h.name, "doc": h.doc}
                for h in sorted(element.hooks, key=lambda h: h.sort_key)
                if h.phase is phase
            ]
            for phase in PHASES
            if any(h.phase is phase for h in element.hooks)
        },
        "settings": [row for cls in settings_classes(element) for row in describe_settings(cls)],
    }


def render(info: dict[str, Any]) -> str:
    """``element_info`` as text for a person."""
    lines = [f"{info['name']}  ({info['origin']} {info['location']})", ""]
    lines += [f"  {line}" if line else "" for line in info["doc"].splitlines() or ["(no doc)"]]
    lines.append("")
    kind = info["kind"]
    if info["folder"] is not None:
        kind += " (a DIB folder element)"
    lines.append(f"{'KIND:':<11} {kind}")
    for key in ("depends", "provides", "conflicts"):
        lines.append(f"{key.upper() + ':':<11} {' '.join(info[key]) or '-'}")
    if info["environment"]:
        lines.append("ENVIRONMENT:")
        lines += [f"  {k}={v}" for k, v in info["environment"].items()]
    if info["environment_d"]:
        lines.append(f"{'ENV.D:':<11} {' '.join(info['environment_d'])}")
    if info["packages"]:
        lines.append(f"PACKAGES:   {' '.join(info['packages'])}")
    maps = [name for name, key in (("pkg-map", "pkg_map"), ("svc-map", "svc_map")) if info[key]]
    if maps:
        lines.append(f"{'MAPS:':<11} {' '.join(maps)}")
    if info["data"]:
        lines.append(f"{'DATA:':<11} {' '.join(info['data'])}")
    if info["source_repositories"]:
        lines.append(f"{'SOURCES:':<11} {' '.join(info['source_repositories'])}")
    if info["host_tools"]:
        tools = (
            f"{tool} ({package})" if package else tool
            for tool, package in info["host_tools"].items()
        )
        lines.append(f"HOST_TOOLS: {' '.join(tools)}")
    lines.append("")
    lines.append("Hooks:" if info["hooks"] else "Hooks: none")
    for phase, hooks in info["hooks"].items():
        lines.append(f"  {phase}:")
        for h in hooks:
            doc = f"  {h['doc']}" if h["doc"] else ""
            lines.append(f"    {h['order']:02d}  {h['hook']}{doc}")
    lines.append("")
    lines.append("Settings:" if info["settings"] else "Settings: none")
    for s in info["settings"]:
        default = "(required)" if s["required"] else f"default {s['default']!r}"
        about = f"  {s['description']}" if s["description"] else ""
        lines.append(f"  {s['variable']} ({s['type']}, {default}){about}")
    return "\n".join(lines)


def element_rows(index: ElementIndex) -> list[dict[str, Any]]:
    """One row per element found, sorted by name, for ``dibpy elements``: its kind, where
    it was found, its summary (or why it cannot be loaded), and whether it replaces one of
    diskimage-builder's folder elements of the same name."""
    dib = dib_elements_dir()
    rows = []
    for name in index.names():
        source = index.source(name)
        try:
            summary = index.get(name).summary
        except ElementLoadError as exc:
            summary = f"(cannot be loaded: {exc})"
        replaces = dib is not None and source.origin.kind != DIB_KIND and (dib / name).is_dir()
        rows.append(
            {
                "name": name,
                "kind": source.kind,
                "origin": source.origin.kind,
                "location": source.origin.location,
                "summary": summary,
                "replaces_dib": replaces,
            }
        )
    return rows


def render_rows(rows: list[dict[str, Any]]) -> str:
    """``element_rows`` as columns: name, kind, summary; below, where each was found."""
    width = max([len("NAME"), *(len(row["name"]) for row in rows)]) + 2
    lines = [f"{'NAME':<{width}}{'KIND':<8}SUMMARY"]
    for row in rows:
        lines.append(f"{row['name']:<{width}}{row['kind']:<8}{row['summary']}".rstrip())
        replaces = " (replaces diskimage-builder's folder element)" if row["replaces_dib"] else ""
        lines.append(f"{'':<{width + 8}}from {row['origin']} {row['location']}{replaces}")
    return "\n".join(lines)
