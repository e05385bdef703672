"""Write the ``__init__.py`` of a ported element: readable, and clean under ruff (its
default rules and dibpy's) and mypy --strict.

Lines fit ruff's and black's default length; a literal or call that does not fit is split
one item a line with a trailing comma, which ruff format keeps at any line length, so the
module stays formatted under the author's settings too.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping, Sequence

from dibpy.errors import InputError
from dibpy.phases import Phase
from dibpy.port.reading import Port, PortedHook

WIDTH = 88
INDENT = "    "


def render_module(port: Port) -> str:
    """The ``__init__.py`` of the ported element: readable, ruff- and mypy-clean."""
    out = [_docstring(port.doc, port.todo), "", *_imports(port)]
    assignments: list[tuple[str, object, bool]] = [
        ("DEPENDS", list(port.depends), False),
        ("PROVIDES", list(port.provides), False),
        ("ENVIRONMENT", port.environment, True),
        *((f"{name}: dict[str, Any]", value, True) for name, value in port.data.items()),
    ]
    for target, value, explode in assignments:
        if value:
            lead = f"{target} = "
            lines = _literal_lines(value, lead=len(lead), explode=explode)
            out += [lead + lines[0], *lines[1:]]
    if port.block_device_config is not None:
        path = _string(port.block_device_config)
        out.append(f"BLOCK_DEVICE_CONFIG = (Path(__file__).parent / {path}).read_text()")
    for hook in port.hooks:
        out += ["", "", *_hook_lines(port.name, hook)]
    return "\n".join(out) + "\n"


def _docstring(doc: str, todo: Sequence[str]) -> str:
    text = _reflow(doc)
    text += "\n\nPorted from a DIB element by ``dibpy port``."
    if todo:
        text += " TODO:\n"
        text += "".join("\n" + _fill(item, "- ", "  ") for item in todo)
    text = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    return f'"""{text}\n"""'


_MARKUP = re.compile(r"^(?:[-*+|:]|\.\.|[0-9#]+[.)]\s)")


def _reflow(text: str) -> str:
    """README text with no line longer than WIDTH: a prose paragraph holding a long line is
    refilled; any other long line is wrapped at its own indentation."""
    out: list[str] = []
    for block in re.split(r"\n(?:[ \t]*\n)+", text):
        lines = block.splitlines()
        if all(len(line) <= WIDTH for line in lines):
            out.append(block)
            continue
        indent = lines[0][: len(lines[0]) - len(lines[0].lstrip())]
        prose = all(
            line.startswith(indent) and not line[len(indent) :].startswith(" ") for line in lines
        ) and not any(_MARKUP.match(line.strip()) for line in lines)
        if prose:
            out.append(_fill(" ".join(line.strip() for line in lines), indent, indent))
        else:
            out.append("\n".join(_wrap(line) for line in lines))
    return "\n\n".join(out)


def _wrap(line: str) -> str:
    """A line longer than WIDTH, wrapped at its own indentation."""
    if len(line) <= WIDTH:
        return line
    indent = line[: len(line) - len(line.lstrip())]
    return _fill(line.strip(), indent, indent)


def _fill(text: str, first: str, rest: str, width: int = WIDTH) -> str:
    return textwrap.fill(
        text,
        width,
        initial_indent=first,
        subsequent_indent=rest,
        break_long_words=False,
        break_on_hyphens=False,
    )


def _imports(port: Port) -> list[str]:
    """The import block, sorted as ruff's isort rules want it, then a blank line."""
    stdlib = []
    if port.block_device_config is not None:
        stdlib.append("from pathlib import Path")
    if port.data:
        stdlib.append("from typing import Any")
    ours = []
    if port.hooks:
        decorators = sorted({_decorator(h.phase) for h in port.hooks})
        ours += _from_import("dibpy", ["BuildContext", "Phase", *decorators, "run_kept_script"])
    blocks = [block for block in (stdlib, ours) if block]
    lines = []
    for block in blocks:
        lines += [*block, ""]
    return lines


def _decorator(phase: Phase) -> str:
    return f"{phase.value.replace('-', '_')}_hook"


def _from_import(module: str, names: Sequence[str]) -> list[str]:
    one = f"from {module} import {', '.join(names)}"
    if len(one) <= WIDTH:
        return [one]
    return [f"from {module} import (", *(f"{INDENT}{n}," for n in names), ")"]


def _hook_lines(element: str, hook: PortedHook) -> list[str]:
    lines = [
        f"@{_decorator(hook.phase)}(order={hook.order})",
        f"def {hook.function}(ctx: BuildContext) -> None:",
    ]
    doc = f"TODO: translate the kept script {hook.relative_path} to Python."
    if len(INDENT) + len(doc) + 6 <= WIDTH:
        lines.append(f'{INDENT}"""{doc}"""')
    else:
        lines += [
            f'{INDENT}"""TODO: translate the kept script to Python.',
            "",
            f"{INDENT}It runs {hook.relative_path} as its legacy hook did.",
            f'{INDENT}"""',
        ]
    args = ["ctx", _string(element), f"Phase.{hook.phase.name}", _string(hook.script)]
    if hook.install_type is not None:
        args.append(f"install_type={_string(hook.install_type)}")
    call = f"{INDENT}run_kept_script({', '.join(args)})"
    if len(call) <= WIDTH:
        return [*lines, call]
    return [*lines, f"{INDENT}run_kept_script(", *(f"{INDENT * 2}{a}," for a in args), f"{INDENT})"]


def _string(value: str) -> str:
    """A string literal as ruff format writes it: double quotes unless that needs escapes."""
    text = repr(value)
    if text.startswith("'") and '"' not in value:
        return f'"{text[1:-1]}"'
    return text


def _inline(value: object) -> str:
    """``value`` as a Python literal on one line."""
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_inline(k)}: {_inline(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_inline(v) for v in value) + "]"
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)
    raise InputError(
        f"The element holds {value!r} ({type(value).__name__}) in its package-installs, "
        "pkg-map or svc-map, which has no Python literal; write it as a string."
    )


def _literal_lines(
    value: object, *, lead: int, indent: str = "", explode: bool = False
) -> list[str]:
    """``value`` as Python source lines, its first line ``lead`` columns in: on one line
    when that fits, else one item a line with a trailing comma (which ruff format and black
    keep at any line length); ``explode`` splits a non-empty container in any case."""
    one = _inline(value)
    small = not explode and lead + len(one) + 1 <= WIDTH
    if small or not isinstance(value, (Mapping, list, tuple)) or not value:
        return [one]
    inner = indent + INDENT
    if isinstance(value, Mapping):
        items = [(f"{_inline(k)}: ", v) for k, v in value.items()]
        opening, closing = "{", "}"
    else:
        items = [("", v) for v in value]
        opening, closing = "[", "]"
    lines = [opening]
    for key, item in items:
        sub = _literal_lines(item, lead=len(inner) + len(key), indent=inner)
        lines += [inner + key + sub[0], *sub[1:]]
        lines[-1] += ","
    return [*lines, indent + closing]
