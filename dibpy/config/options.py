"""Build options, each declared once: on its BuildConfig field, with ``option(...)``.

One declaration carries an option's type and default (the field's), its ``DIB_*``
variables, its command-line flags, metavar and help text. Everything else is made from it:
the ``build`` command's arguments (``dibpy.frontends.buildargs``), the reading of the
environment (``read_environment``, here), the check of ``dibpy.build``'s keyword names
(``check_names``) and the options table of ``docs/cli.md``. Adding an option is adding a
field::

    image_size_gb: float | None = option(
        None, flags=("--image-size",), env=("DIB_IMAGE_SIZE",), metavar="GB",
        help="image size in GB", parse=positive_float,
    )

As for an element's ``setting``, an empty variable counts as unset. A flag or keyword wins
over the variable, and the variable over the default, as DIB's flags do.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from pydantic.fields import FieldInfo

from dibpy.config.settings import parse_bool
from dibpy.errors import InputError, SettingsError

# Reads a variable's text (``variable`` names it in the error) into the option's value.
Parse = Callable[[str, str], object]


@dataclass(frozen=True)
class Option:
    """What a BuildConfig field needs, beyond its type and default, to be an option.

    ``separator``: a flag's value is a list (``-t qcow2,tar``); ``repeat``: the flag may be
    given again and its values add up (``-p vim -p curl``). ``default_from`` computes the
    default from the environment when no variable is set (``~/.cache/image-create`` under
    ``HOME``); ``parse`` reads a variable's text, by default as the field's type does.
    """

    flags: tuple[str, ...]
    env: tuple[str, ...]
    help: str
    metavar: str | None
    separator: str | None
    repeat: bool
    parse: Parse | None
    default_from: Callable[[Mapping[str, str]], object] | None


def option(
    default: Any = ...,
    *,
    help: str,
    flags: Iterable[str] = (),
    env: Iterable[str] = (),
    metavar: str | None = None,
    separator: str | None = None,
    repeat: bool = False,
    parse: Parse | None = None,
    default_from: Callable[[Mapping[str, str]], object] | None = None,
    default_factory: Callable[[], Any] | None = None,
) -> Any:
    """A BuildConfig field that is a build option (see the module's docstring)."""
    declared = Option(
        tuple(flags), tuple(env), help, metavar, separator, repeat, parse, default_from
    )
    field: FieldInfo = (
        Field(default_factory=default_factory, description=help)
        if default_factory is not None
        else Field(default, description=help)
    )
    field.metadata.append(declared)
    return field


def declared(model: type[BaseModel]) -> dict[str, tuple[FieldInfo, Option]]:
    """Every option of ``model``, in declaration order: ``{name: (field, option)}``."""
    found = {}
    for name, field in model.model_fields.items():
        for item in field.metadata:
            if isinstance(item, Option):
                found[name] = (field, item)
    return found


def value_type(field: FieldInfo) -> Any:
    """The field's type without ``None``: ``float`` for ``float | None``."""
    annotation = field.annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        kept = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(kept) == 1:
            return kept[0]
    return annotation


def read_environment(
    model: type[BaseModel], env: Mapping[str, str], names: Collection[str] | None = None
) -> dict[str, object]:
    """The values ``env`` gives the options (``names``, default all) of ``model``.

    An option whose variables are all unset or empty is left out, unless it computes its
    default from the environment. A bad value is a SettingsError naming the variable.
    """
    values: dict[str, object] = {}
    for name, (field, opt) in declared(model).items():
        if names is not None and name not in names:
            continue
        variable = next((v for v in opt.env if env.get(v, "") != ""), None)
        if variable is not None:
            values[name] = _parser(field, opt)(variable, env[variable])
        elif opt.default_from is not None:
            values[name] = opt.default_from(env)
    return values


def check_names(given: Iterable[str], allowed: Collection[str], function: str) -> None:
    """Refuse a keyword that is no option of ``function``, naming the nearest valid one."""
    for name in given:
        if name in allowed:
            continue
        close = difflib.get_close_matches(name, list(allowed), n=1)
        hint = (
            f"Did you mean {close[0]!r}?"
            if close
            else f"Its options are: {', '.join(sorted(allowed))}."
        )
        raise InputError(f"{function}() has no option {name!r}. {hint}")


def positive_float(variable: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if number <= 0:
        raise SettingsError(f"{variable}={value!r} is not a size in GB greater than 0.")
    return number


def non_negative_int(variable: str, value: str) -> int:
    if value.strip() == "":
        return 0
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 0:
        raise SettingsError(f"{variable}={value!r} is not a whole number 0 or greater.")
    return number


def _text(variable: str, value: str) -> str:
    return value


def _path(variable: str, value: str) -> Path:
    return Path(value)


# How a variable is read when the option names no ``parse`` of its own.
PARSERS: dict[Any, Parse] = {
    bool: parse_bool,
    int: non_negative_int,
    str: _text,
    Path: _path,
}


def _parser(field: FieldInfo, opt: Option) -> Parse:
    if opt.parse is not None:
        return opt.parse
    kind = value_type(field)
    if kind not in PARSERS:
        raise TypeError(f"option of type {kind} read from {opt.env} needs a parse function")
    return PARSERS[kind]
