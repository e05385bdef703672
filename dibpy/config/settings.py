"""Typed settings read from the environment: the build's own, and each element's.

An element declares what it reads in one class, and a hook asks the context for it::

    class UbuntuSettings(ElementSettings):
        release: str = setting("DIB_RELEASE", "noble", "Ubuntu release to build")

    @root_hook(order=10)
    def fetch(ctx: BuildContext) -> None:
        release = ctx.settings(UbuntuSettings).release

Values come from the environment snapshot the build took once, at its start. As with
DIB's ``${VAR:-default}``, an empty variable counts as unset.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dibpy.errors import SettingsError

S = TypeVar("S", bound="ElementSettings")

TRUE_WORDS = {"1", "true", "yes", "on", "y"}
FALSE_WORDS = {"0", "false", "no", "off", "n"}


class ElementSettings(BaseModel):
    """Base class of an element's settings; each field names its variable with ``setting``."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=False)


def setting(variable: str, default: Any = ..., description: str = "") -> Any:
    """A field read from environment ``variable`` (e.g. ``DIB_RELEASE``)."""
    return Field(default, validation_alias=variable, description=description)


def read_settings(cls: type[S], env: Mapping[str, str], owner: str = "") -> S:
    """Validate ``cls`` from ``env``; a bad value is a SettingsError naming the variable."""
    present = {key: value for key, value in env.items() if value != ""}
    try:
        return cls.model_validate(present)
    except ValidationError as exc:
        error = SettingsError(_explain(exc, present, owner))
        error.element = owner or None
        raise error from None


def parse_bool(variable: str, value: str) -> bool:
    """DIB's flags are words: 1/0, true/false, yes/no, on/off (empty means false)."""
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS or word == "":
        return False
    raise SettingsError(
        f"{variable}={value!r} is not a yes/no value. Use 1 or 0 (also true/false, yes/no)."
    )


def _explain(exc: ValidationError, env: Mapping[str, str], owner: str) -> str:
    problems = []
    for error in exc.errors():
        variable = ".".join(str(part) for part in error["loc"])
        value = env.get(variable)
        shown = f"={value!r}" if value is not None else " (not set)"
        problems.append(f"{variable}{shown}: {error['msg'].lower()}")
    who = f" of element {owner!r}" if owner else ""
    return f"Bad setting{who}: {'; '.join(problems)}. Fix or unset the variable and run again."
