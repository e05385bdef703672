"""The docs stay true: docs/cli.md is what the parser generates, and every Python example
in docs/ and the README at least compiles."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from conftest import REPO

from dibpy.frontends import cli, clidoc

DOCS = REPO / "docs"
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def test_cli_reference_is_generated_from_the_parser() -> None:
    expected = clidoc.render(cli.parser())
    actual = (DOCS / "cli.md").read_text()
    assert actual == expected, (
        "docs/cli.md is out of date with the CLI: run "
        "`python -m dibpy.frontends.clidoc > docs/cli.md`"
    )


def test_cli_reference_covers_every_command_and_option() -> None:
    text = (DOCS / "cli.md").read_text()
    for command in ("build", "plan", "elements", "show", "completion", "boot"):
        assert f"## dibpy {command}\n" in text
    for option in ("--no-progress", "--log-file FILE", "--element-path DIR", "--stop-after PHASE"):
        assert f"`{option}`" in text


@pytest.mark.parametrize(
    "doc", sorted([*DOCS.glob("*.md"), REPO / "README.md"]), ids=lambda p: p.name
)
def test_python_examples_compile(doc: Path) -> None:
    for block in PYTHON_BLOCK.findall(doc.read_text()):
        ast.parse(block, filename=str(doc))
