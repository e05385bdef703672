"""``source-repository-*`` files read into typed entries, and checked before anything is
fetched: bash's ``read`` and a safe stand-in for DIB's ``eval`` of each line, the
``DIB_REPO*_<name>`` overrides, and the install type that selects a repository."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from dibpy import BuildError
from dibpy.author import install_type_of

log = logging.getLogger("dibpy.elements.source-repositories")

DEFAULT_REFS = {"tar": "*", "git": "master"}
LINE = re.compile(r"^([^ ]+) (git|tar|file|package) ?(/[^ ]+)? ?([^ ]+)? ?([^ ]*)$")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class SourceRepositoryError(BuildError):
    """A source-repository line is wrong, or its repository cannot be placed."""


@dataclass(frozen=True)
class Repository:
    """One line of a ``source-repository-*`` file, overrides applied."""

    name: str
    type: str
    destination: str
    location: str
    ref: str
    origin: str
    """``file:line``, for messages."""
    location_overridden: bool = False

    @property
    def variable_name(self) -> str:
        """The name as it appears in ``DIB_REPO*_<name>`` variables."""
        return re.sub(r"[^A-Za-z0-9]", "_", self.name)


# --- reading the files -------------------------------------------------------------------


def repository_files(hooks: Path) -> list[Path]:
    """The ``source-repository-*`` files at the top of the hooks tree (not ``*~``)."""
    return sorted(
        p
        for p in hooks.glob("source-repository-*")
        if p.is_file() and not p.is_symlink() and not p.name.endswith("~")
    )


def read_lines(text: str) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` as bash's ``read`` (no ``-r``) gives them: a trailing
    backslash joins the next line, other backslashes escape the next character (and are
    removed), surrounding white space is stripped."""
    raw = text.split("\n")
    if raw and raw[-1] == "":
        raw.pop()
    number = 0
    while number < len(raw):
        start = number + 1
        pending = raw[number]
        number += 1
        while _continues(pending) and number < len(raw):
            pending = pending[:-1] + raw[number]
            number += 1
        if _continues(pending):
            pending = pending[:-1]
        out = []
        i = 0
        while i < len(pending):
            if pending[i] == "\\" and i + 1 < len(pending):
                out.append(pending[i + 1])
                i += 2
            else:
                out.append(pending[i])
                i += 1
        yield start, "".join(out).strip(" \t")


def _continues(line: str) -> bool:
    trailing = len(line) - len(line.rstrip("\\"))
    return trailing % 2 == 1


def expand_line(line: str, env: Mapping[str, str], where: str) -> str:
    """The line as ``eval echo $line`` prints it (globbing off): words split on white space,
    quotes removed, ``$VAR``/``${VAR}``/``${VAR:-word}``/``${VAR-word}`` expanded from
    ``env``, ``#`` at the start of a word comments out the rest; words joined by one space.
    Anything that would run a command is refused."""
    words: list[str] = []
    current: list[str] | None = None

    def flush() -> None:
        nonlocal current
        if current is not None:
            words.append("".join(current))
            current = None

    def add(text: str) -> None:
        nonlocal current
        if current is None:
            current = []
        current.append(text)

    def add_split(value: str) -> None:
        for k, part in enumerate(re.split(r"[ \t\n]+", value)):
            if k:
                flush()
            if part:
                add(part)

    text = " ".join(line.split())
    i = 0
    while i < len(text):
        c = text[i]
        if c == " ":
            flush()
            i += 1
        elif c == "#" and current is None:
            break
        elif c == "\\":
            add(text[i + 1 : i + 2])
            i += 2
        elif c == "'":
            end = text.find("'", i + 1)
            if end < 0:
                raise SourceRepositoryError(f"{where}: unterminated ' quote in {line!r}.")
            add(text[i + 1 : end])
            i = end + 1
        elif c == '"':
            add("")
            i += 1
            while True:
                if i >= len(text):
                    raise SourceRepositoryError(f'{where}: unterminated " quote in {line!r}.')
                c = text[i]
                if c == '"':
                    i += 1
                    break
                if c == "\\" and i + 1 < len(text) and text[i + 1] in '$`"\\':
                    add(text[i + 1])
                    i += 2
                elif c == "$":
                    value, i = _expand(text, i, env, where, line)
                    add(value)
                elif c == "`":
                    raise _refused(where, line, "`")
                else:
                    add(c)
                    i += 1
        elif c == "$":
            value, i = _expand(text, i, env, where, line)
            add_split(value)
        elif c in "`;|&<>()":
            raise _refused(where, line, c)
        else:
            add(c)
            i += 1
    flush()
    return " ".join(words)


def _refused(where: str, line: str, what: str) -> SourceRepositoryError:
    return SourceRepositoryError(
        f"{where}: {line!r} uses {what!r}, shell syntax dibpy does not run in a "
        "source-repository line (DIB eval'd it). Use only words, quotes and $VARIABLES."
    )


def _expand(text: str, i: int, env: Mapping[str, str], where: str, line: str) -> tuple[str, int]:
    """Expand the ``$`` at ``text[i]``; return the value and the index after it."""
    rest = text[i + 1 :]
    if rest.startswith("("):
        raise _refused(where, line, "$(")
    if rest.startswith("{"):
        end = rest.find("}")
        if end < 0:
            raise SourceRepositoryError(f"{where}: unterminated ${{ in {line!r}.")
        inner = rest[1:end]
        match = NAME.match(inner)
        if match is None:
            raise _refused(where, line, "${" + inner + "}")
        name, operator = match.group(), inner[match.end() :]
        after = i + 1 + end + 1
        if operator == "":
            return _variable(name, env, where, line), after
        for op in (":-", "-"):
            if operator.startswith(op):
                default = operator[len(op) :]
                if any(ch in default for ch in "$`\\'\""):
                    raise _refused(where, line, "${" + inner + "}")
                value = env.get(name)
                if value is None or (op == ":-" and value == ""):
                    return default, after
                return value, after
        raise _refused(where, line, "${" + inner + "}")
    match = NAME.match(rest)
    if match is None:
        if rest and (rest[0].isdigit() or rest[0] in "@*#?$!-"):
            raise _refused(where, line, "$" + rest[:1])
        return "$", i + 1
    return _variable(match.group(), env, where, line), i + 1 + match.end()


def _variable(name: str, env: Mapping[str, str], where: str, line: str) -> str:
    if name not in env:
        raise SourceRepositoryError(
            f"{where}: {line!r} uses ${name}, which is not set (DIB fails on it too: its "
            f"hook runs with set -u). Set {name} or change the line."
        )
    return env[name]


def parse_file(path: Path, env: Mapping[str, str]) -> list[Repository]:
    """The repositories of one ``source-repository-*`` file, overrides applied."""
    repositories = []
    for number, raw in read_lines(path.read_text(errors="replace")):
        where = f"{path.name}:{number}"
        line = expand_line(raw, env, where)
        if not line or line.startswith("#"):
            continue
        match = LINE.match(line)
        if match is None:
            raise SourceRepositoryError(
                f"{where}: couldn't parse {line!r} as a source repository. The format is "
                "'<name> <git|tar|file|package> <destination> <location> [<ref>]', one space "
                "apart, with an absolute destination."
            )
        name, kind, destination, location, ref = match.groups()
        if kind == "tar" and not ref:
            log.warning("%s: the default tarball ref '*' is deprecated; give the ref", where)
        ref = ref or DEFAULT_REFS.get(kind, "")
        safe = re.sub(r"[^A-Za-z0-9]", "_", name)
        kind = env.get(f"DIB_REPOTYPE_{safe}") or kind
        override = env.get(f"DIB_REPOLOCATION_{safe}") or ""
        repositories.append(
            Repository(
                name=name,
                type=kind,
                destination=destination or "",
                location=override or location or "",
                ref=env.get(f"DIB_REPOREF_{safe}") or ref,
                origin=where,
                location_overridden=bool(override),
            )
        )
    return repositories


# --- checking them -----------------------------------------------------------------------


def wanted(repository: Repository, env: Mapping[str, str]) -> bool:
    """Whether ``repository`` is to be fetched (install type ``source``); raise if its
    line cannot be fetched, before anything is."""
    install_type = install_type_of(repository.name, env)
    if install_type != "source":
        log.info("%s install type not set to source (%s)", repository.name, install_type)
        return False
    if repository.type not in ("git", "tar", "file"):
        raise SourceRepositoryError(
            f"{repository.origin}: unsupported repository type {repository.type!r} for "
            f"{repository.name} (DIB fetches git, tar and file; a 'package' repository "
            f"is installed from packages: set DIB_INSTALLTYPE_{repository.variable_name}"
            "=package)."
        )
    check_destination(repository)
    if not repository.location:
        raise SourceRepositoryError(
            f"{repository.origin}: {repository.name} has no location to fetch from."
        )
    for field, value in (("location", repository.location), ("ref", repository.ref)):
        if repository.type == "git" and value.startswith("-"):
            raise SourceRepositoryError(
                f"{repository.origin}: the {field} {value!r} of {repository.name} starts "
                "with '-', which git would take for an option; dibpy refuses it."
            )
    return True


def check_destination(repository: Repository) -> None:
    """Raise unless the destination is given and has no ``..``."""
    destination = repository.destination
    if not destination:
        raise SourceRepositoryError(
            f"{repository.origin}: {repository.name} has no destination; give an "
            "absolute path in the image as the third field."
        )
    if ".." in PurePosixPath(destination).parts:
        raise SourceRepositoryError(
            f"{repository.origin}: the destination {destination!r} of {repository.name} "
            "contains '..'; dibpy refuses paths that could climb out of where they "
            "point. Give a plain absolute path in the image."
        )
