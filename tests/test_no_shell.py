"""No shell strings anywhere: every subprocess dibpy or a built-in element starts gets an
argument list. Checked on the syntax tree of every module under dibpy/, elements/ and
examples/ (comments and strings that merely mention a shell do not count)."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest
from conftest import REPO

TREES = ("dibpy", "elements", "examples")
SHELL_FUNCTIONS = {
    ("os", "system"),
    ("os", "popen"),
    ("subprocess", "getoutput"),
    ("subprocess", "getstatusoutput"),
    ("asyncio", "create_subprocess_shell"),
}
RUNNERS = {"run", "Popen", "call", "check_call", "check_output"}
SHELLS = {"sh", "bash", "dash", "zsh", "/bin/sh", "/bin/bash", "/usr/bin/sh", "/usr/bin/bash"}


def _name(node: ast.expr) -> tuple[str, str] | None:
    """``("os", "system")`` for ``os.system``; ``("", "run")`` for a bare ``run``."""
    if isinstance(node, ast.Attribute):
        owner = node.value
        base = owner.id if isinstance(owner, ast.Name) else ""
        return base, node.attr
    if isinstance(node, ast.Name):
        return "", node.id
    return None


def _is_text(node: ast.expr) -> bool:
    """A string built in the source: a literal, an f-string, or a concatenation/format."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, (str, bytes))
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mod)):
        return _is_text(node.left) or _is_text(node.right)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr in ("format", "join") and _is_text(node.func.value)
    return False


def _shell_in_list(node: ast.expr) -> bool:
    """``["sh", "-c", ...]`` (or ``["chroot", root, "bash", "-c", ...]``)."""
    if not isinstance(node, (ast.List, ast.Tuple)):
        return False
    words = [e.value if isinstance(e, ast.Constant) else None for e in node.elts]
    return any(
        word in SHELLS and i + 1 < len(words) and words[i + 1] == "-c"
        for i, word in enumerate(words)
    )


def problems(source: str, filename: str) -> list[str]:
    """Every shell use in ``source``, as ``file:line: what``."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.Call):
            continue
        where = f"{filename}:{node.lineno}"
        for keyword in node.keywords:
            if keyword.arg == "shell" and not (
                isinstance(keyword.value, ast.Constant) and keyword.value.value is False
            ):
                found.append(f"{where}: shell=")
        name = _name(node.func)
        if name in SHELL_FUNCTIONS:
            found.append(f"{where}: {'.'.join(name)}")
        if name is not None and name[1] in RUNNERS and node.args:
            if _is_text(node.args[0]):
                found.append(f"{where}: {name[1]}() given a string, not an argument list")
            if _shell_in_list(node.args[0]):
                found.append(f"{where}: {name[1]}() runs a shell with -c")
    return found


def sources() -> list[Path]:
    return sorted(p for tree in TREES for p in (REPO / tree).rglob("*.py"))


def test_there_are_sources_to_check() -> None:
    names = {p.relative_to(REPO).as_posix() for p in sources()}
    assert {"dibpy/run.py", "dibpy/chroot.py", "elements/debootstrap.py"} <= names


def test_no_shell_strings_in_the_source_tree() -> None:
    found = []
    for path in sources():
        found += problems(path.read_text(), str(path.relative_to(REPO)))
    assert found == []


BAD = {
    "shell-true": "subprocess.run(argv, shell=True)",
    "shell-variable": "subprocess.Popen(argv, shell=use_shell)",
    "os-system": "os.system('ls /')",
    "os-popen": "os.popen('ls').read()",
    "getoutput": "subprocess.getoutput('ls')",
    "string-argv": "subprocess.run('ls -l /')",
    "fstring-argv": "runner.run(f'mount {source} {target}')",
    "joined-argv": "subprocess.check_output(' '.join(argv))",
    "concatenated-argv": "ctx.chroot.run('apt-get install ' + name)",
    "sh-c": "ctx.chroot.run(['/bin/sh', '-c', 'echo hi > /etc/motd'])",
    "chroot-bash-c": "runner.run(['chroot', root, 'bash', '-c', script])",
}
GOOD = {
    "list": "subprocess.run(['ls', '-l', path], check=True)",
    "shell-false": "subprocess.run(['ls'], shell=False)",
    "variable": "runner.run(argv)",
    "chroot-list": "ctx.chroot.run(['/bin/busybox', '--install', '-s', '/bin'])",
    "mention": "log.info('never use shell=True or os.system')",
}


@pytest.mark.parametrize("case", list(BAD))
def test_the_check_finds_shell_use(case: str) -> None:
    assert problems(textwrap.dedent(BAD[case]), "bad.py") != []


@pytest.mark.parametrize("case", list(GOOD))
def test_the_check_passes_argument_lists(case: str) -> None:
    assert problems(GOOD[case], "good.py") == []
