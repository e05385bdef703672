"""The plain defaults of an environment.d file, read without running it.

A small, strict parser: a file is turned into ``ENVIRONMENT`` only when every line is one
``dibpy port`` understands exactly; anything else is kept and sourced, as DIB does.
"""

from __future__ import annotations

import re

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_BLANK = r"[ \t]"
_COMMENT = rf"(?:{_BLANK}+#.*)?"
# One shell word: quotes are respected, so `` #`` or ``;`` in quotes ends nothing.
_VALUE = r"""(?P<value>(?:[^ \t'";&|<>()]|'[^']*'|"[^"]*")+)"""
# ``export VAR=VALUE``, ``VAR=VALUE; export VAR``, ``VAR=VALUE`` (exported on a later line)
_EXPORT_ASSIGN = re.compile(rf"export{_BLANK}+(?P<name>{_NAME})={_VALUE}{_COMMENT}")
_ASSIGN_EXPORT = re.compile(
    rf"(?P<name>{_NAME})={_VALUE}{_BLANK}*;{_BLANK}*export{_BLANK}+(?P<exported>{_NAME})"
    rf"{_COMMENT}"
)
_ASSIGN = re.compile(rf"(?P<name>{_NAME})={_VALUE}{_COMMENT}")
_EXPORT = re.compile(rf"export{_BLANK}+(?P<names>{_NAME}(?:{_BLANK}+{_NAME})*){_COMMENT}")
# ``${VAR:-WORD}``, bare or in double quotes.
_DEFAULT = re.compile(rf"\$\{{(?P<name>{_NAME}):-(?P<word>[^}}]*)\}}")
_QUOTED_DEFAULT = re.compile(rf'"\$\{{(?P<name>{_NAME}):-(?P<word>[^}}"]*)\}}"')
# Characters that stand for themselves in an unquoted word: no expansion, quoting,
# globbing, redirection or word splitting starts with them (``~`` expands at the start).
_PLAIN = re.compile(r"[A-Za-z0-9_./:,+=@%^-]+")
_SINGLE_QUOTED = re.compile(r"'[^']*'")
_DOUBLE_QUOTED = re.compile(r'"[^"$`\\]*"')
# Inside ``"${VAR:-...}"`` bash keeps single quotes, expands ``$``, backquotes and
# ``\``, and even reads ``<(`` as a process substitution: only these are literal there.
_IN_DOUBLE_QUOTES = re.compile(r"[A-Za-z0-9 _./:,+=@%^#;&|*?\[\]~!-]*")


class NotPlain(ValueError):
    """An environment.d file that is not only plain defaults; the message says which line."""


def parse_environment(text: str) -> dict[str, str]:
    """The defaults of an environment.d file that holds nothing else, in file order.

    Accepted, one a line: blank lines and ``#`` comments; ``export VAR=${VAR:-DEFAULT}``;
    ``VAR=${VAR:-DEFAULT}; export VAR``; ``VAR=${VAR:-DEFAULT}`` with ``export VAR`` on a
    later line. The value may be in double quotes (``"${VAR:-DEFAULT}"``), and a line may
    end in `` # comment``. DEFAULT is literal: letters, digits and ``_./:,+=@%^-``,
    ``'single-quoted'`` text, ``"double-quoted"`` text without ``$``, backquotes or
    backslashes, or several of those run together; it may be empty (``${VAR:-}``). Inside
    ``"${VAR:-DEFAULT}"``, DEFAULT has no quotes, ``<``, ``>``, ``(`` or ``)`` either.

    Anything else (command substitution, another variable, conditionals, ``exit``, an
    unconditional ``export VAR=value``, which overrides the user, DOS line ends) raises
    :class:`NotPlain`.
    """
    if "\r" in text:
        raise NotPlain("it has DOS line ends (bash keeps the carriage returns in values)")
    defaults: dict[str, str] = {}
    pending: dict[str, int] = {}  # assigned, not yet exported: name -> line number
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.strip(" \t")
        if not line or line.startswith("#"):
            continue
        if match := _EXPORT_ASSIGN.fullmatch(line):
            name, value, exported = match["name"], match["value"], True
        elif match := _ASSIGN_EXPORT.fullmatch(line):
            name, value = match["name"], match["value"]
            if match["exported"] != name:
                raise NotPlain(f"line {number} exports {match['exported']}, not {name}")
            exported = True
        elif match := _EXPORT.fullmatch(line):
            for exported_name in match["names"].split():
                if exported_name not in pending:
                    raise NotPlain(f"line {number} exports {exported_name} without a default")
                del pending[exported_name]
            continue
        elif match := _ASSIGN.fullmatch(line):
            name, value, exported = match["name"], match["value"], False
        else:
            raise NotPlain(f"line {number} is not a plain default: {_short(line)}")
        default = _default_of(name, value)
        if default is None:
            raise NotPlain(f"line {number} is not a plain default: {_short(line)}")
        defaults.setdefault(name, default)  # a second default of one file never applies
        if not exported:
            pending[name] = number
    if pending:
        name, number = next(iter(pending.items()))
        raise NotPlain(f"line {number} sets {name} without exporting it")
    return defaults


def _default_of(name: str, value: str) -> str | None:
    """DEFAULT of ``${NAME:-DEFAULT}`` or ``"${NAME:-DEFAULT}"`` when it is literal."""
    if match := _QUOTED_DEFAULT.fullmatch(value):
        word = match["word"]
        literal = word if _IN_DOUBLE_QUOTES.fullmatch(word) else None
    elif match := _DEFAULT.fullmatch(value):
        literal = _literal(match["word"])
    else:
        return None
    return literal if match["name"] == name else None


def _literal(word: str) -> str | None:
    """The value of an unquoted shell word made of plain and quoted literal parts."""
    parts = []
    at = 0
    while at < len(word):
        for pattern, strip in ((_PLAIN, 0), (_SINGLE_QUOTED, 1), (_DOUBLE_QUOTED, 1)):
            match = pattern.match(word, at)
            if match:
                parts.append(match.group()[strip : len(match.group()) - strip])
                at = match.end()
                break
        else:
            return None
    return "".join(parts)


def _short(line: str) -> str:
    return f"`{line}`" if len(line) <= 40 else f"`{line[:37]}...`"
