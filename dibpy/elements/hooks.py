"""The hook decorators: they only mark a function; the element loader collects marks.

No registry lives here (pluggy's ``HookimplMarker`` is the model): the same element module
can be loaded twice, by two builds in one process, and each load sees only its own hooks.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from dibpy.errors import HookDefinitionError
from dibpy.phases import Phase

if TYPE_CHECKING:
    from dibpy.building.context import BuildContext

HookFunction = Callable[["BuildContext"], None]
F = TypeVar("F", bound=HookFunction)

MARK = "__dibpy_hook__"
MIN_ORDER, MAX_ORDER = 0, 99


@dataclass(frozen=True)
class HookMark:
    """What a decorator attaches to a hook function."""

    phase: Phase
    order: int


def _article(phase: Phase) -> str:
    return "An" if phase.value[0] in "aeiou" else "A"


def where(fn: Callable[..., object]) -> str:
    """``file:line`` of a function, for error messages."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return repr(fn)
    return f"{code.co_filename}:{code.co_firstlineno}"


class HookMarker:
    """One phase's decorator factory: ``@install_hook(order=50)`` marks a hook of that phase.

    A class rather than a closure so that its signature is typed: mypy rejects
    ``@install_hook(ordr=50)`` or ``@install_hook(order="late")`` in an element.
    """

    def __init__(self, phase: Phase) -> None:
        self.phase = phase
        self.__name__ = f"{phase.value.replace('-', '_')}_hook"
        self.__doc__ = f"Mark a function as a hook of the {phase} phase, run at ``order`` (0-99)."

    def __repr__(self) -> str:
        return f"<dibpy hook decorator {self.__name__}>"

    def __call__(self, *, order: int) -> Callable[[F], F]:
        phase = self.phase
        if isinstance(order, bool) or not isinstance(order, int):
            raise HookDefinitionError(
                f"The order of a {phase} hook must be an integer from {MIN_ORDER} to "
                f"{MAX_ORDER}, not {order!r}. Write it as @{self.__name__}(order=50)."
            )
        if not MIN_ORDER <= order <= MAX_ORDER:
            raise HookDefinitionError(
                f"{_article(phase)} {phase} hook has order {order}, outside "
                f"{MIN_ORDER}-{MAX_ORDER}. Orders work like the number prefix of a "
                "dib-run-parts script: pick one in that range."
            )

        def decorate(fn: F) -> F:
            if hasattr(fn, MARK):
                raise HookDefinitionError(
                    f"{fn.__name__} at {where(fn)} is marked as a hook twice; a function is "
                    "the hook of one phase. Write a second function for the other phase."
                )
            _refuse_redefinition(fn)
            _check_signature(fn)
            setattr(fn, MARK, HookMark(phase, order))
            return fn

        return decorate


def _refuse_redefinition(fn: Callable[..., object]) -> None:
    """Two hooks of one element with one name: the second would silently replace the first.

    While the module runs, its namespace still holds the earlier function of that name, so
    the decorator can see the clash that the loader, scanning the finished module, cannot.
    """
    module = sys.modules.get(fn.__module__)
    earlier = vars(module).get(fn.__name__) if module is not None else None
    if earlier is not None and hasattr(earlier, MARK):
        raise HookDefinitionError(
            f"Two hooks named {fn.__name__!r} in one element ({where(earlier)} and "
            f"{where(fn)}); the second would replace the first. Give each hook its own name."
        )


def _check_signature(fn: Callable[..., object]) -> None:
    try:
        inspect.signature(fn).bind(object())
    except TypeError:
        raise HookDefinitionError(
            f"Hook {fn.__name__} at {where(fn)} must take exactly one argument, the build "
            f"context: def {fn.__name__}(ctx: BuildContext) -> None."
        ) from None
    except ValueError:  # no signature (a builtin); let the call decide
        return


root_hook = HookMarker(Phase.ROOT)
extra_data_hook = HookMarker(Phase.EXTRA_DATA)
pre_install_hook = HookMarker(Phase.PRE_INSTALL)
install_hook = HookMarker(Phase.INSTALL)
post_install_hook = HookMarker(Phase.POST_INSTALL)
post_root_hook = HookMarker(Phase.POST_ROOT)
block_device_hook = HookMarker(Phase.BLOCK_DEVICE)
pre_finalise_hook = HookMarker(Phase.PRE_FINALISE)
finalise_hook = HookMarker(Phase.FINALISE)
cleanup_hook = HookMarker(Phase.CLEANUP)
