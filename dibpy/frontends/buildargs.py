"""The build options on the command line, made from their one declaration.

Each BuildConfig field declared with ``option(..., flags=...)`` becomes an argument: a
``bool`` a switch that sets the opposite of its default, a tuple a list (split at its
separator, added up when the flag repeats), an enum a choice, a number or path a value of
that type. Every argument defaults to None ("not given"), so that the variable, and then
the field's default, decide when the flag is absent.
"""

from __future__ import annotations

import argparse
import enum
import typing
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo

from dibpy.config.model import BuildConfig
from dibpy.config.options import Option, declared, value_type

# Types argparse converts a flag's text to; any other (str) stays text.
CONVERTED = (int, float, Path)


def flagged() -> list[str]:
    """Every option that has a flag, in declaration order."""
    return [name for name, (_, opt) in declared(BuildConfig).items() if opt.flags]


def add_arguments(parser: argparse.ArgumentParser, names: Iterable[str]) -> None:
    """Add the options ``names`` to ``parser`` (``dest`` is the option's name)."""
    options = declared(BuildConfig)
    for name in names:
        field, opt = options[name]
        parser.add_argument(*opt.flags, dest=name, help=help_text(opt), **_kind(field, opt))


def help_text(opt: Option) -> str:
    """The option's help, with its variables (argparse's ``%`` escaped)."""
    text = opt.help.replace("%", "%%")
    return f"{text} ({', '.join(opt.env)})" if opt.env else text


def values(args: argparse.Namespace, names: Sequence[str]) -> dict[str, Any]:
    """The options given on the command line, as ``dibpy.build`` takes them."""
    options = declared(BuildConfig)
    found: dict[str, Any] = {}
    for name in names:
        value = getattr(args, name)
        opt = options[name][1]
        if value is None:
            continue
        if opt.separator is not None:
            given = value if opt.repeat else [value]
            value = tuple(part for text in given for part in text.split(opt.separator) if part)
        elif opt.repeat:
            value = tuple(value)
        found[name] = value
    return found


def _kind(field: FieldInfo, opt: Option) -> dict[str, Any]:
    kind = value_type(field)
    if kind is bool:
        return {"action": "store_false" if field.default else "store_true", "default": None}
    spec: dict[str, Any] = {"default": None, "metavar": opt.metavar}
    if typing.get_origin(kind) is tuple:
        kind = typing.get_args(kind)[0]
        if opt.repeat:
            spec["action"] = "append"
    if opt.separator is None and kind in CONVERTED:
        spec["type"] = kind
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        spec["choices"] = [member.value for member in kind]
    return spec
