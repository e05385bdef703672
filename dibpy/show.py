"""``dibpy show ELEMENT``: everything about one element, without building anything."""

from __future__ import annotations

import inspect
from typing import Any

from pydantic_core import PydanticUndefined

from dibpy.elements import Element, ElementIndex
from dibpy.hosttools import declared_tools
from dibpy.phases import PHASES
from dibpy.settings import ElementSettings


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


def element_info(index: ElementIndex, name: str) -> dict[str, Any]:
    """What ``dibpy show --json`` prints for element ``name``."""
    element = index.get(name)
    packages = getattr(element.module, "PACKAGES", None) if element.module else None
    host_tools = getattr(element.module, "HOST_TOOLS", None) if element.module else None
    return {
        "name": element.name,
        "doc": element.doc.strip(),
        "origin": element.origin.kind,
        "location": element.origin.location,
        "depends": list(element.depends),
        "provides": list(element.provides),
        "conflicts": list(element.conflicts),
        "environment": dict(element.environment),
        "packages": sorted(packages) if isinstance(packages, dict) else [],
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
    for key in ("depends", "provides", "conflicts"):
        lines.append(f"{key.upper() + ':':<11} {' '.join(info[key]) or '-'}")
    if info["environment"]:
        lines.append("ENVIRONMENT:")
        lines += [f"  {k}={v}" for k, v in info["environment"].items()]
    if info["packages"]:
        lines.append(f"PACKAGES:   {' '.join(info['packages'])}")
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
