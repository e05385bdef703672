"""``Runner.run``, the one way dibpy starts a program, takes an argument list and nothing else.

ruff's flake8-bandit rules (S602, S604, S605, S606: see pyproject.toml) keep shells out of the
source. What they cannot see is a string that reaches the runner at run time (an f-string, a
joined list): the runner refuses it before anything starts, and what it is given as a list
reaches the program word for word, with no shell in between.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dibpy.host.run import Runner


@pytest.fixture
def runner() -> Runner:
    return Runner(env={"PATH": os.environ["PATH"]})


@pytest.mark.parametrize("kind", [str, bytes])
def test_a_shell_string_is_refused_before_anything_runs(
    runner: Runner, tmp_path: Path, kind: type
) -> None:
    made = tmp_path / "made"
    command = f"touch {made}"
    with pytest.raises(TypeError, match="an argument list, never a shell string"):
        runner.run(command if kind is str else command.encode())  # type: ignore[arg-type]
    assert not made.exists()
    assert runner.running() == []


def test_an_argument_list_reaches_the_program_word_for_word(runner: Runner, tmp_path: Path) -> None:
    name = "two words; $(touch pwned) && `touch pwned` > *"
    result = runner.run(["touch", tmp_path / name], cwd=tmp_path)
    assert result.returncode == 0
    assert result.argv == ["touch", str(tmp_path / name)]
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
