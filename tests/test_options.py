"""Build options are declared once (``option`` on BuildConfig's fields) and everything is made
from that: the ``build`` command's arguments, the environment reading with its precedence
(flag > variable > default), docs/cli.md, and ``dibpy.build``'s typed keywords, whose
misspellings are refused at run time (InputError with the nearest name) and by mypy."""

from __future__ import annotations

import argparse
import subprocess
import sys
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from conftest import EXAMPLES, REPO, build_dirs, clean_env

import dibpy
from dibpy import api
from dibpy.config.model import BuildConfig
from dibpy.config.options import declared, value_type
from dibpy.errors import InputError
from dibpy.frontends import buildargs, cli
from dibpy.phases import Phase

OPTIONS = declared(BuildConfig)
FLAGGED = [name for name, (_, opt) in OPTIONS.items() if opt.flags]
WITH_FLAG_AND_VARIABLE = [name for name in FLAGGED if OPTIONS[name][1].env]


def build_parser() -> argparse.ArgumentParser:
    for action in cli.parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            found: argparse.ArgumentParser = action.choices["build"]
            return found
    raise AssertionError("no build subcommand")


def test_every_option_is_declared_with_help_and_something_to_set_it_by() -> None:
    assert len(OPTIONS) >= 20
    for name, (_, opt) in OPTIONS.items():
        assert opt.help, name
        assert opt.flags or opt.env, f"{name}: neither a flag nor a variable"


@pytest.mark.parametrize("name", FLAGGED)
def test_every_flagged_option_is_in_the_parser_with_its_variables(name: str) -> None:
    actions = {action.dest: action for action in build_parser()._actions}
    action = actions[name]
    opt = OPTIONS[name][1]
    assert tuple(action.option_strings) == opt.flags
    assert action.default is None  # absent: the variable, then the default, decide
    for variable in opt.env:
        assert variable in (action.help or "")


@pytest.mark.parametrize("name", list(OPTIONS))
def test_every_option_is_in_the_docs_with_its_flags_and_variables(name: str) -> None:
    text = (REPO / "docs" / "cli.md").read_text()
    table = text[text.index("### Build options") : text.index("## dibpy plan")]
    keyword = "output" if name == "image_name" else name
    row = next(line for line in table.splitlines() if line.startswith(f"| `{keyword}` |"))
    opt = OPTIONS[name][1]
    for item in (*opt.flags, *opt.env):
        assert f"`{item}" in row, item
    assert opt.help in row


def test_the_parser_keeps_the_flags_it_had() -> None:
    # dibpy build's flags before they were generated; none may go or change.
    flags = {flag for action in build_parser()._actions for flag in action.option_strings}
    assert flags >= {
        "--element-path", "-a", "--arch", "-n", "-o", "-t", "-p", "-u", "--qemu-img-options",
        "--checksum", "--image-size", "--image-extra-size", "--root-label", "--stop-after",
        "--keep-build-dir", "--no-tmpfs", "--min-tmpfs", "--image-cache", "--offline", "-x",
        "--log-file", "--no-progress",
    }  # fmt: skip


# A value for the flag and another for the variable, per type; bools: the flag is the switch.
SAMPLES: dict[Any, tuple[str, str]] = {
    int: ("5", "7"),
    float: ("3.5", "7"),
    str: ("from-flag", "from-variable"),
    Path: ("/from/flag", "/from/variable"),
}


def parse(argv: Sequence[str], env: dict[str, str]) -> BuildConfig:
    args = cli.parser().parse_args(["build", *argv, "some-element"])
    return BuildConfig.from_environment(
        env, elements=tuple(args.elements), **buildargs.values(args, buildargs.flagged())
    )


@pytest.mark.parametrize("name", WITH_FLAG_AND_VARIABLE)
def test_a_flag_wins_over_its_variable_which_wins_over_the_default(name: str) -> None:
    field, opt = OPTIONS[name]
    flag, variable = opt.flags[-1], opt.env[0]
    kind = value_type(field)
    if kind is bool:
        argv, text = [flag], "0"
        expected_flag, expected_variable = not field.default, False
        assert parse([], {variable: "1"}).model_dump()[name] is (not field.default)
    else:
        flag_text, text = SAMPLES[kind]
        argv = [flag, flag_text]
        expected_flag, expected_variable = kind(flag_text), kind(text)
    if name == "arch":
        argv, text, expected_flag, expected_variable = [flag, "arm64"], "i386", "arm64", "i386"
    default = parse([], {}).model_dump()[name]
    assert parse(argv, {variable: text}).model_dump()[name] == expected_flag
    assert parse([], {variable: text}).model_dump()[name] == expected_variable
    assert parse([], {variable: ""}).model_dump()[name] == default  # empty: unset


def test_list_flags_split_and_repeat() -> None:
    made = parse(["-t", "tar,qcow2", "-p", "vim,curl", "-p", "git", "--element-path", "/a"], {})
    assert made.formats == ("tar", "qcow2")
    assert made.packages == ("vim", "curl", "git")
    assert made.element_paths == (Path("/a"),)
    assert parse(["--stop-after", "install", "-u"], {}).stop_after is Phase.INSTALL
    assert parse(["-u"], {}).compress is False
    assert parse([], {}).compress is True


def test_the_typed_keywords_are_the_declared_options() -> None:
    # BuildOptions is written out for mypy; it must say exactly what is declared: every
    # option but ``image_name``, which is dibpy.build's ``output``, with its type widened to
    # what the API takes (any sequence for a tuple, a str for a Path or a Phase) or None.
    hints = typing.get_type_hints(api.BuildOptions)
    assert set(hints) == set(OPTIONS) - {"image_name"}
    widen: dict[Any, Any] = {Path: str | Path, Phase: Phase | str}
    for name, hint in hints.items():
        kind = value_type(OPTIONS[name][0])
        if typing.get_origin(kind) is tuple:
            item = typing.get_args(kind)[0]
            kind = Sequence[widen.get(item, item)]  # type: ignore[valid-type]
        assert hint == widen.get(kind, kind) | None, name
    assert set(typing.get_type_hints(api.PlanOptions)) == {"element_paths", "arch", "skip_base"}


def test_a_misspelt_build_option_is_refused_before_anything_is_built(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        dibpy.build(
            ["tiny-busybox"],
            output=tmp_path / "out",
            formats=["tar"],
            element_paths=[EXAMPLES],
            skip_base=True,
            env=clean_env(tmp_path),
            keep_buid_dir=True,  # type: ignore[call-arg]
        )
    message = str(caught.value)
    assert "'keep_buid_dir'" in message
    assert "Did you mean 'keep_build_dir'?" in message
    assert caught.value.exit_code == 2
    assert not (tmp_path / "tmp").exists() or build_dirs(tmp_path / "tmp") == []
    assert list(tmp_path.glob("out*")) == []


def test_a_misspelt_plan_option_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="Did you mean 'skip_base'"):
        dibpy.plan(["tiny-busybox"], skip_bsae=True)  # type: ignore[call-arg]
    with pytest.raises(InputError, match=r"'offline'.*Its options are: arch, element_paths"):
        dibpy.plan(["tiny-busybox"], offline=True)  # type: ignore[call-arg]


def test_a_wrongly_typed_option_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="image_size_gb='big'"):
        BuildConfig.from_environment({}, elements=("x",), image_size_gb="big")


def test_mypy_refuses_a_misspelt_option(tmp_path: Path) -> None:
    snippet = tmp_path / "misspelt.py"
    snippet.write_text(
        "import dibpy\n\n"
        'dibpy.build(["x"], output="o", formats=["tar"], keep_build_dir=True)\n'
        'dibpy.build(["x"], output="o", keep_buid_dir=True)\n'
        'dibpy.plan(["x"], skip_bsae=True)\n'
    )
    mypy = [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "cache")]
    done = subprocess.run(
        [*mypy, str(snippet)],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,  # mypy finds this checkout's dibpy first
    )
    errors = [line for line in done.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 2, done.stdout + done.stderr
    assert 'misspelt.py:4: error: Unexpected keyword argument "keep_buid_dir"' in errors[0]
    assert 'misspelt.py:5: error: Unexpected keyword argument "skip_bsae"' in errors[1]
