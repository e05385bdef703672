"""The errors dibpy raises: each one is a message for people plus fields for programs.

The CLI prints ``str(error)`` as one paragraph, without a traceback, and exits with
``error.exit_code``: 2 for bad input (the user can fix the command or the element), 1 for
a build that failed while running. Every message is shown with URL passwords masked
(``dibpy.redact``), whatever text went into it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dibpy.redact import redact_url


class DibError(Exception):
    """Base of every error dibpy raises on purpose.

    ``phase``, ``element`` and ``hook`` say where it happened, for programs; each is None
    when it does not apply (an unknown element name has no phase). ``exit_code`` is what the
    CLI exits with.
    """

    exit_code = 1
    phase: str | None = None
    element: str | None = None
    hook: str | None = None

    def __str__(self) -> str:
        return redact_url(super().__str__())

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its type, ``args`` and fields, without calling ``__init__`` again (a
        build runs in a child process and its error crosses a pipe to the caller)."""
        return (_rebuild, (type(self), self.args, dict(vars(self))))


def _rebuild(cls: type[DibError], args: tuple[Any, ...], fields: dict[str, Any]) -> DibError:
    error = cls.__new__(cls)
    error.args = args
    vars(error).update(fields)
    return error


class InputError(DibError):
    """The command, the environment or an element is wrong; nothing was built."""

    exit_code = 2


class ElementNotFoundError(InputError):
    """An element name that is on no element path."""


class ElementLoadError(InputError):
    """An element module that cannot be imported or declares something invalid."""


class HookDefinitionError(ElementLoadError):
    """A hook declared wrongly: bad order, bad signature, a duplicate name."""


class ResolutionError(InputError):
    """The requested elements cannot be combined into one image."""


class SettingsError(InputError):
    """A ``DIB_*`` (or other) setting has a value that cannot be used."""


class BuildError(DibError):
    """Something failed while the build ran."""


class CommandError(BuildError):
    """A subprocess exited non-zero (or could not be started).

    ``argv`` and ``output_tail`` are as shown to people: URL passwords masked.
    """

    def __init__(self, argv: Sequence[str], returncode: int, output_tail: str) -> None:
        self.argv = [redact_url(arg) for arg in argv]
        self.returncode = returncode
        self.output_tail = redact_url(output_tail)
        shown = " ".join(self.argv)
        if returncode < 0:
            what = f"was killed by signal {-returncode}"
        else:
            what = f"exited with status {returncode}"
        message = f"Command `{shown}` {what}."
        if output_tail:
            message += f" Its last output:\n{output_tail}"
        super().__init__(message)


class HookError(BuildError):
    """A hook failed; carries where, so that programs need not parse the message."""

    def __init__(self, phase: str, element: str, hook: str, cause: BaseException) -> None:
        self.phase = phase
        self.element = element
        self.hook = hook
        self.cause = cause
        reason = str(cause) or type(cause).__name__
        super().__init__(
            f"The {phase} phase failed in hook {hook!r} of element {element!r}: {reason}"
        )


class BuildInterrupted(BuildError):
    """The build received SIGINT or SIGTERM and stopped."""

    exit_code = 130

    def __init__(
        self,
        message: str,
        *,
        phase: str | None = None,
        element: str | None = None,
        hook: str | None = None,
    ) -> None:
        super().__init__(message)
        self.phase, self.element, self.hook = phase, element, hook
