"""``dibpy port``: a legacy (DIB folder) element becomes a Python element package that builds
the same image.

Unit tests of the environment.d parser (checked against bash itself) and of the generated
module (loaded back, and clean under ruff and mypy --strict); the CLI's errors (exit 2,
nothing written); the checked-in example is what the tool makes; and the proof: the legacy
element and its port, each built into a tar with ``tests/elements/bash-root``, give the
same tree, path by path (type, mode, owner, symlink target, content).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import textwrap
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest
from conftest import REPO, clean_env, run_dibpy
from hypothesis import given, settings
from hypothesis import strategies as st

from dibpy.building.context import BuildContext
from dibpy.elements.folder import load_legacy_element
from dibpy.elements.loader import load_file_element
from dibpy.elements.model import Origin
from dibpy.errors import HookDefinitionError, InputError
from dibpy.frontends import cli
from dibpy.legacy.kept import KeptScriptMissing, run_kept_script
from dibpy.phases import Phase
from dibpy.port import NotPlain, parse_environment, port, read_element
from dibpy.tree.diff import Allowance, compare, read_tree

EXAMPLE = REPO / "examples" / "legacy-element"
TEST_ELEMENTS = REPO / "tests" / "elements"
SCRIPT = "#!/bin/bash\nset -eu\necho {name}\n"


def write_folder(directory: Path, files: Mapping[str, str]) -> Path:
    """A legacy element folder; files of ``*.d/`` folders other than environment.d are
    executable unless their name ends in ``.noexec`` (which is dropped)."""
    directory.mkdir(parents=True, exist_ok=True)
    for relative, text in files.items():
        path = directory / relative.removesuffix(".noexec")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        script = ".d/" in relative and not relative.startswith("environment.d/")
        if script and not relative.endswith(".noexec"):
            path.chmod(0o755)
    return directory


# --- environment.d ---------------------------------------------------------------------

ACCEPTED = {
    "export A=${A:-x}": {"A": "x"},
    "export A=${A:-}": {"A": ""},
    'export A="${A:-two words}"': {"A": "two words"},
    "export A=${A:-'single quoted'}": {"A": "single quoted"},
    'export A=${A:-"double quoted"}': {"A": "double quoted"},
    "export A=${A:-a'b c'\"d\"e}": {"A": "ab cde"},
    "export A=${A:-/usr/local/bin:/opt,x+y=z@%^.-_}": {"A": "/usr/local/bin:/opt,x+y=z@%^.-_"},
    "export DIB_RELEASE=${DIB_RELEASE:-9} # always the most recent major": {"DIB_RELEASE": "9"},
    "  export A=${A:-x}  ": {"A": "x"},
    "A=${A:-x}; export A": {"A": "x"},
    "A=${A:-x}\nB=${B:-y}\nexport A B": {"A": "x", "B": "y"},
    "# a comment\n\nexport A=${A:-x}\nexport B=${B:-y}\n": {"A": "x", "B": "y"},
    "export A=${A:-first}\nexport A=${A:-second}": {"A": "first"},
    "export A=${A:-' #'} # a quoted # is no comment": {"A": " #"},
    'export A="${A:-a #b}"': {"A": "a #b"},
    "A=${A:-';'}; export A": {"A": ";"},
    "export A=${A:-'it''s'}": {"A": "its"},
}
REJECTED = {
    "export A=x": "unconditional: it overrides the user's value",
    "export A=${B:-x}": "another variable's value",
    "export A=${A:-$HOME}": "an expansion",
    "export A=${A:-$(uname -m)}": "command substitution",
    "export A=${A:-`uname -m`}": "command substitution",
    'export A=${A:-"$HOME"}': "an expansion in quotes",
    "export A=${A:-~/x}": "tilde expansion",
    "export A=${A:-a b}": "word splitting outside bash's export",
    "export A=${A:-*}": "a glob",
    "export A=${A-x}": "no colon: an empty value is kept",
    "export A=${A:=x}": "assigning expansion",
    "export A=${A:-x}; echo hi": "a command",
    "A=${A:-x}": "never exported",
    "export B": "exported without a default",
    'export A="${A:-\\x}"': "a backslash",
    "if [ -z ${A:-} ]; then export A=x; fi": "a conditional",
    "exit 1": "exit",
    "export A+=x": "appending",
    "export A=\"${A:-'a'}\"": "single quotes in double quotes (bash keeps them)",
    "A=${A:-x}; export B": "exports another name",
    "export A=${A:-x}\r\n": "DOS line ends: bash keeps the carriage return",
}


@pytest.mark.parametrize(("text", "expected"), ACCEPTED.items(), ids=list(ACCEPTED))
def test_plain_defaults_are_read(text: str, expected: dict[str, str]) -> None:
    assert parse_environment(text) == expected


@pytest.mark.parametrize("text", REJECTED, ids=list(REJECTED.values()))
def test_anything_else_is_not_plain(text: str) -> None:
    with pytest.raises(NotPlain, match="line"):
        parse_environment(text)


def bash_exports(tmp_path: Path, text: str, env: Mapping[str, str]) -> dict[str, str]:
    """What bash exports after sourcing ``text``, as the hook driver sources it."""
    (tmp_path / "env-file").write_text(text + "\n")
    reader = tmp_path / "reader"
    reader.write_text('set -eu\nsource "$1"\nexec env -0\n')
    done = subprocess.run(
        ["bash", str(reader), str(tmp_path / "env-file")],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        check=True,
    )
    pairs = (item.partition("=") for item in done.stdout.split("\0") if "=" in item)
    return {name: value for name, _, value in pairs}


@pytest.mark.parametrize(("text", "expected"), ACCEPTED.items(), ids=list(ACCEPTED))
def test_the_parser_agrees_with_bash(tmp_path: Path, text: str, expected: dict[str, str]) -> None:
    unset = bash_exports(tmp_path, text, {})
    assert {name: unset[name] for name in expected} == expected
    # ENVIRONMENT's rule (a non-empty user value wins, an empty one takes the default) is
    # ${VAR:-default}'s.
    for name in expected:
        assert bash_exports(tmp_path, text, {name: "from-user"})[name] == "from-user"
        assert bash_exports(tmp_path, text, {name: ""})[name] == expected[name]


PLAIN_CHARS = st.text(alphabet="abcXYZ019_./:,+=@%^-", min_size=1, max_size=8)
QUOTED_CHARS = st.text(alphabet="ab 9_.:/#;&|<>()*?[]~!-", max_size=8)
IN_DOUBLE_QUOTES = st.text(alphabet="ab 9_.:/#;&|*?[]~!-", max_size=8)  # in "${X:-...}"
FORMS = (
    "export DIB_X=${{DIB_X:-{}}}",
    "DIB_X=${{DIB_X:-{}}}; export DIB_X",
    "DIB_X=${{DIB_X:-{}}}\nexport DIB_X # exported later",
)


@st.composite
def default_lines(draw: st.DrawFn) -> str:
    """A line with a literal default, written as DIB's files write them: plain and quoted
    parts run together, or the whole value in double quotes."""
    if draw(st.booleans()):
        return f'export DIB_X="${{DIB_X:-{draw(IN_DOUBLE_QUOTES)}}}"'
    parts = st.one_of(
        PLAIN_CHARS,
        QUOTED_CHARS.map(lambda s: f"'{s}'"),
        QUOTED_CHARS.map(lambda s: f'"{s}"'),
    )
    word = "".join(draw(st.lists(parts, max_size=4)))
    return draw(st.sampled_from(FORMS)).format(word)


@settings(max_examples=60, deadline=None)
@given(text=default_lines())
def test_any_literal_default_agrees_with_bash(text: str) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        assert parse_environment(text)["DIB_X"] == bash_exports(Path(scratch), text, {})["DIB_X"]


ANY_CHARS = st.text(alphabet="a9 _.:/#;&|<>(){}*?[]~!$`\\'\"-=\t", max_size=10)


@st.composite
def any_default_lines(draw: st.DrawFn) -> str:
    """A default of any characters, most of which the parser must refuse."""
    word = draw(ANY_CHARS)
    form = draw(st.sampled_from([*FORMS, 'export DIB_X="${{DIB_X:-{}}}"']))
    return str(form.format(word))


@settings(max_examples=100, deadline=None)
@given(text=any_default_lines())
def test_what_the_parser_accepts_bash_reads_alike(text: str) -> None:
    try:
        parsed = parse_environment(text)["DIB_X"]
    except NotPlain:
        return  # kept and sourced: always right
    with tempfile.TemporaryDirectory() as scratch:
        assert parsed == bash_exports(Path(scratch), text, {})["DIB_X"]


# --- the generated module ------------------------------------------------------------

FULL: dict[str, str] = {
    "README.rst": """
        ======
        rich-1
        ======
        Does everything a DIB element can, for the port's tests.

        A "quoted" word, a backslash \\ and three quotes \"\"\" survive the docstring.
        This line is long enough that it has to be wrapped to stay within the line length of
        the generated module.
        """,
    "element-deps": "dep-a\ndep-b\n",
    "element-provides": "block-device\n",
    "package-installs.yaml": """
        curl:
        vim:
          phase: pre-install.d
        linux-image-amd64:
          arch: amd64
        build-essential:
          build-only: true
        a-package-with-a-name-long-enough-to-split-its-options:
          phase: post-install.d
          not-arch: ppc64el,s390x
          when: DIB_SOMETHING_LONG = something-else
        """,
    "pkg-map": '{"family": {"debian": {"vim": "vim-nox"}}, "default": {"vim": "vim"}}\n',
    "svc-map": "ssh:\n  default: sshd\n  debian: ssh\n",
    "block-device-default.yaml": "- local_loop:\n    name: image0\n",
    "block-device-ppc64el.yaml": "- local_loop:\n    name: image0\n",
    "source-repository-rich": "rich git /opt/rich https://example.org/rich.git\n",
    "__init__.py": "",
    "tests/test_it.py": "def test() -> None: ...\n",
    "environment.d/10-plain.bash": "export DIB_RICH=${DIB_RICH:-yes}\n",
    "environment.d/20-computed.bash": "export DIB_RICH_ARCH=$(uname -m)\n",
    "root.d/10-fetch": SCRIPT.format(name="fetch"),
    "root.d/10-hook": SCRIPT.format(name="hook"),
    "pre-install.d/05-a": SCRIPT.format(name="a"),
    "install.d/50-b": SCRIPT.format(name="b"),
    "install.d/50-B": SCRIPT.format(name="B"),
    "install.d/50_a": SCRIPT.format(name="a"),
    "root.d/hook": SCRIPT.format(name="named like a decorator"),
    "install.d/notes.txt.noexec": "not a script\n",
    "install.d/60-not-executable.noexec": SCRIPT.format(name="idle"),
    "install.d/rich-source-install/70-rich": SCRIPT.format(name="source"),
    "install.d/rich-package-install/70-rich": SCRIPT.format(name="package"),
    "post-root.d/100-late": SCRIPT.format(name="late"),
    "block-device.d/10-partition": SCRIPT.format(name="partition"),
    "finalise.d/99-f": SCRIPT.format(name="f"),
    "static/etc/rich.conf": "x = 1\n",
    "bin/rich-tool": "#!/bin/sh\n",
}


@pytest.fixture
def rich(tmp_path: Path) -> Path:
    folder = write_folder(tmp_path / "src" / "rich-1", FULL)
    (folder / "bin" / "rich-tool").chmod(0o755)
    (folder / "static" / "etc" / "link").symlink_to("rich.conf")
    return folder


def test_metadata_becomes_module_data_equal_to_the_legacy_loaders(
    rich: Path, tmp_path: Path
) -> None:
    result = port(rich, tmp_path / "out")
    package = result.package
    element = load_file_element("rich-1", package / "__init__.py", Origin("path", "x"))
    legacy = load_legacy_element("rich-1", rich, Origin("path", "y"))
    assert element.depends == legacy.depends == ("dep-a", "dep-b")
    assert element.provides == ("block-device",)
    assert element.environment == {"DIB_RICH": "yes"}
    for attribute in ("PACKAGES", "PKG_MAP", "SVC_MAP"):
        assert getattr(element.module, attribute) == getattr(legacy.module, attribute)
    assert element.module is not None
    config = element.module.BLOCK_DEVICE_CONFIG
    assert config == textwrap.dedent(FULL["block-device-default.yaml"])
    assert element.summary == "Does everything a DIB element can, for the port's tests."
    assert 'A "quoted" word, a backslash \\ and three quotes """ survive' in " ".join(
        element.doc.split()
    )


def test_every_script_a_legacy_build_runs_becomes_a_hook(rich: Path, tmp_path: Path) -> None:
    package = port(rich, tmp_path / "out").package
    element = load_file_element("rich-1", package / "__init__.py", Origin("path", "x"))
    hooks = [(h.phase.value, h.order, h.name) for h in element.hooks]
    assert sorted(hooks) == sorted(
        [
            ("root", 10, "root_10_fetch"),
            ("root", 10, "root_10_hook"),
            ("pre-install", 5, "pre_install_05_a"),
            ("install", 50, "install_50_b"),
            ("install", 50, "install_50_B"),
            ("install", 50, "install_50_a"),
            ("root", 0, "root_hook_2"),
            ("install", 70, "install_70_rich_source"),
            ("install", 70, "install_70_rich_package"),
            ("post-root", 99, "post_root_100_late"),
            ("finalise", 99, "finalise_99_f"),
        ]
    )
    text = (package / "__init__.py").read_text()
    assert 'run_kept_script(ctx, "rich-1", Phase.ROOT, "10-fetch")' in text
    assert 'install_type="rich-source-install"' in text
    assert "TODO: translate the kept script install.d/50-b to Python." in text


def test_what_is_not_python_is_kept_as_data(rich: Path, tmp_path: Path) -> None:
    package = port(rich, tmp_path / "out").package
    kept = sorted(
        str(p.relative_to(package)) for p in package.rglob("*") if p.is_file() or p.is_symlink()
    )
    assert kept == sorted(
        [
            "__init__.py",
            "bin/rich-tool",
            "block-device-default.yaml",
            "block-device-ppc64el.yaml",
            "block-device.d/10-partition",
            "environment.d/20-computed.bash",
            "finalise.d/99-f",
            "install.d/50-B",
            "install.d/50-b",
            "install.d/50_a",
            "install.d/60-not-executable",
            "install.d/notes.txt",
            "install.d/rich-package-install/70-rich",
            "install.d/rich-source-install/70-rich",
            "post-root.d/100-late",
            "pre-install.d/05-a",
            "root.d/10-fetch",
            "root.d/10-hook",
            "root.d/hook",
            "source-repository-rich",
            "static/etc/link",
            "static/etc/rich.conf",
        ]
    )
    assert (package / "static/etc/link").readlink() == Path("rich.conf")
    assert os.access(package / "install.d/50-b", os.X_OK)
    assert os.access(package / "bin/rich-tool", os.X_OK)
    assert not os.access(package / "install.d/60-not-executable", os.X_OK)


def test_the_todo_list_says_what_is_left(rich: Path) -> None:
    todo = " ".join(read_element(rich).todo)
    for said in (
        "Each hook below runs the element's kept script",
        "``environment.d/20-computed.bash`` is kept and still sourced",
        "line 1 is not a plain default",
        "``install.d/rich-source-install/70-rich`` runs only when install type ``source``",
        "``install.d/60-not-executable`` is kept but never ran",
        "``install.d/notes.txt`` is kept but never ran",
        "``post-root.d/100-late`` is numbered 100",
        "``block-device.d/10-partition`` is kept but has no hook",
        "``block-device-ppc64el.yaml`` is kept",
        "``tests/`` (DIB's functional tests) was not kept",
        "The install hooks run in another order than their scripts did (50-B, 50-b, 50_a)",
    ):
        assert said in todo, said


def test_top_level_data_files_reach_the_hooks_tree_without_a_todo(rich: Path) -> None:
    assert "source-repository-rich" not in " ".join(read_element(rich).todo)


def test_the_generated_module_is_ruff_and_mypy_clean(rich: Path, tmp_path: Path) -> None:
    package = port(rich, tmp_path / "out").package
    # mypy takes module names: a copy under a Python name (element names have hyphens).
    module = tmp_path / "rich_1.py"
    shutil.copy(package / "__init__.py", module)
    ruff = [sys.executable, "-m", "ruff"]
    for config in (["--config", str(REPO / "pyproject.toml")], ["--isolated"]):
        for command in (["check", *config], ["format", "--check", "--diff", *config]):
            done = subprocess.run(
                [*ruff, *command, str(module)], capture_output=True, text=True, check=False
            )
            assert done.returncode == 0, done.stdout + done.stderr
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(module)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_an_element_of_scripts_alone_needs_few_imports(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "tiny", {"install.d/10-x": SCRIPT.format(name="x")})
    text = port(folder, tmp_path / "out").package.joinpath("__init__.py").read_text()
    assert text.startswith('"""The tiny element.\n\nPorted from a DIB element by ``dibpy port')
    assert "from dibpy import BuildContext, Phase, install_hook, run_kept_script\n" in text
    assert "dibpy.legacy" not in text  # one author surface: dibpy itself
    assert "Any" not in text and "DEPENDS" not in text


def test_long_lines_are_split_as_ruff_format_keeps_them(tmp_path: Path) -> None:
    name = "an-element-with-a-rather-long-name"
    folder = write_folder(
        tmp_path / name,
        {
            "element-deps": "".join(f"dependency-number-{i}\n" for i in range(6)),
            "post-install.d/60-a-script-with-a-long-name-too": SCRIPT.format(name="x"),
        },
    )
    text = port(folder, tmp_path / "out").package.joinpath("__init__.py").read_text()
    assert "DEPENDS = [\n    " in text and '"dependency-number-5",\n]' in text
    assert "    run_kept_script(\n        ctx,\n" in text
    assert '"""TODO: translate the kept script to Python.\n\n    It runs post-install.d/' in text
    assert max(len(line) for line in text.splitlines()) <= 88


@pytest.mark.parametrize(
    "readme",
    [
        "=====\ntitled\n=====\nThe summary.\n",
        "titled\n======\n\nThe summary.\n",
        "# titled\n\nThe summary.\n",
        "\nThe summary.\n",
    ],
)
def test_the_docstring_is_the_readme_without_its_title(tmp_path: Path, readme: str) -> None:
    folder = write_folder(tmp_path / "titled", {"README.rst": readme})
    assert read_element(folder).doc == "The summary."


def test_a_kept_file_reading_a_later_default_is_flagged(tmp_path: Path) -> None:
    folder = write_folder(
        tmp_path / "ordered",
        {
            "environment.d/10-reads": 'if [ -n "${DIB_LATER:-}" ]; then export X=1; fi\n',
            "environment.d/20-defaults": "export DIB_LATER=${DIB_LATER:-on}\n",
        },
    )
    the_port = read_element(folder)
    assert the_port.environment == {"DIB_LATER": "on"}
    assert any("``environment.d/10-reads`` reads DIB_LATER" in t for t in the_port.todo)


def test_a_link_out_of_the_element_is_flagged(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "linked", {"static/etc/x": "x\n"})
    (tmp_path / "shared").write_text("shared\n")
    (folder / "static" / "etc" / "out").symlink_to("../../../shared")
    (folder / "static" / "etc" / "absolute").symlink_to("/usr/share/zoneinfo/UTC")
    (folder / "static" / "etc" / "inside").symlink_to("x")
    todo = read_element(folder).todo
    assert [t for t in todo if "symbolic link" in t] == [
        "``static/etc/out`` is a symbolic link to ../../../shared, outside the element: "
        "copied as a link, it points elsewhere from the package folder."
    ]


# --- run_kept_script ----------------------------------------------------------------------


def fake_context(hooks: Path) -> BuildContext:
    return cast(BuildContext, SimpleNamespace(hooks_path=hooks))


def test_a_missing_kept_script_is_named(tmp_path: Path) -> None:
    with pytest.raises(KeptScriptMissing, match=r"kept script install\.d/50-x, which is not"):
        run_kept_script(fake_context(tmp_path), "el", Phase.INSTALL, "50-x")


@pytest.mark.parametrize(
    ("phase", "install_type"),
    [(Phase.INSTALL, "not-a-type-folder"), (Phase.ROOT, "el-source-install")],
)
def test_an_install_type_needs_an_install_folder_name(
    tmp_path: Path, phase: Phase, install_type: str
) -> None:
    with pytest.raises(HookDefinitionError, match="install type is the name"):
        run_kept_script(fake_context(tmp_path), "el", phase, "50-x", install_type=install_type)


# --- the command line ---------------------------------------------------------------------


def snapshot(root: Path) -> dict[str, tuple[int, bytes | str]]:
    """Every path under ``root`` with its mode and content (or symlink target)."""
    found: dict[str, tuple[int, bytes | str]] = {}
    for path in sorted(root.rglob("*")):
        if "__pycache__" in path.parts:
            continue  # left by an import of the example, not part of it
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            body: bytes | str = os.readlink(path)
        elif stat.S_ISREG(info.st_mode):
            body = path.read_bytes()
        else:
            body = b""
        found[str(path.relative_to(root))] = (info.st_mode, body)
    return found


def one_line(text: str) -> str:
    """The CLI wraps its messages: compare them with the line breaks undone."""
    return " ".join(text.split())


def test_the_command_writes_the_package_and_lists_the_todo(
    rich: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "new" / "out"
    assert cli.main(["port", str(rich), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(
        f"Wrote {out / 'rich-1'}: 11 hooks running kept scripts, 1 ENVIRONMENT default.\n"
    )
    assert "TODO (also in the module's docstring):\n  - Each hook below" in printed
    assert (out / "rich-1" / "__init__.py").is_file()
    assert [p.name for p in out.iterdir()] == ["rich-1"]  # no staging folder left


def test_the_default_output_is_the_current_directory(
    rich: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["port", str(rich)]) == 0
    assert (tmp_path / "rich-1" / "__init__.py").is_file()


def test_an_existing_package_is_kept_unless_forced(
    rich: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    (out / "rich-1").mkdir(parents=True)
    (out / "rich-1" / "mine").write_text("keep me")
    before = snapshot(out)
    assert cli.main(["port", str(rich), "-o", str(out)]) == 2
    error = one_line(capsys.readouterr().err)
    assert error.startswith("dibpy: error: ") and "exists already" in error and "--force" in error
    assert snapshot(out) == before
    assert cli.main(["port", str(rich), "-o", str(out), "--force"]) == 0
    assert not (out / "rich-1" / "mine").exists()
    assert (out / "rich-1" / "__init__.py").is_file()
    assert [p.name for p in out.iterdir()] == ["rich-1"]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (None, "is not a directory"),
        ({"notes.txt": "x"}, "does not look like a DIB element"),
        ({"__init__.py": "DEPENDS = []\n", "README.rst": "x"}, "a Python element already"),
        ({"package-installs.yaml": "curl: [unclosed\n"}, "cannot be read"),
        ({"pkg-map": "- a list\n"}, "must hold a mapping"),
        ({"package-installs.yaml": "when: 2024-01-01\n"}, "has no Python literal"),
    ],
)
def test_bad_input_is_exit_2_and_writes_nothing(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    files: dict[str, str] | None,
    message: str,
) -> None:
    source = tmp_path / "bad-one"
    if files is not None:
        write_folder(source, files)
    out = tmp_path / "out"
    assert cli.main(["port", str(source), "-o", str(out)]) == 2
    error = one_line(capsys.readouterr().err)
    assert message in error
    assert error.startswith("dibpy: error: ") and "Traceback" not in error
    assert not out.exists()


@pytest.mark.parametrize("output", [".", "inner"])
def test_the_port_is_never_written_into_its_source(
    rich: Path, output: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(rich)
    target = rich.parent if output == "." else rich / output
    assert cli.main(["port", str(rich), "-o", str(target), "--force"]) == 2
    assert "Choose another output directory" in one_line(capsys.readouterr().err)
    assert snapshot(rich) == before


def test_an_unwritable_output_is_bad_input(rich: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(InputError, match="Nothing was written"):
        port(rich, blocker / "out")


# --- the example ------------------------------------------------------------------------


def test_the_example_port_is_what_the_tool_makes(tmp_path: Path) -> None:
    made = port(EXAMPLE / "legacy" / "hello-legacy", tmp_path).package
    assert snapshot(made) == snapshot(EXAMPLE / "ported" / "hello-legacy"), (
        "examples/legacy-element/ported is out of date: run `python -m dibpy port "
        "legacy/hello-legacy -o ported --force` in examples/legacy-element"
    )


# --- the proof: the same tree ------------------------------------------------------------

# Paths that may differ between the two builds, each with its reason. None so far: the
# manifest (which names the hooks: scripts for one, functions for the other) is written
# beside the image, not into it.
ALLOWED_DIFFERENCES: list[Allowance] = []


def build_tree(base: Path, element_dir: Path, env_extra: Mapping[str, str]) -> Path:
    """Build bash-root + hello-legacy from ``element_dir`` into a tar, and extract it."""
    base.mkdir(parents=True)
    env = clean_env(base, DIB_NO_TMPFS="1", **env_extra)
    args = [
        "build", "-n", "-t", "tar", "-o", str(base / "image"), "--no-progress",
        "--element-path", str(element_dir), "--element-path", str(TEST_ELEMENTS),
        "bash-root", "hello-legacy",
    ]  # fmt: skip
    result = run_dibpy(args, env, base)
    assert result.returncode == 0, result.stderr[-3000:]
    tree = base / "tree"
    with tarfile.open(base / "image.tar") as tar:
        # S202: the tar dibpy has just built; its device nodes need "fully_trusted"
        tar.extractall(tree, numeric_owner=True, filter="fully_trusted")  # noqa: S202
    return tree


@pytest.mark.root
@pytest.mark.parametrize(
    "env_extra",
    [{}, {"DIB_HELLO_GREETING": "Hi from the user", "DIB_HELLO_MOTD_MODE": "0600"}],
    ids=["defaults", "user-settings"],
)
def test_the_port_builds_the_same_tree(tmp_path: Path, env_extra: dict[str, str]) -> None:
    ported = port(EXAMPLE / "legacy" / "hello-legacy", tmp_path / "ported").package.parent
    legacy_tree = build_tree(tmp_path / "legacy-build", EXAMPLE / "legacy", env_extra)
    ported_tree = build_tree(tmp_path / "ported-build", ported, env_extra)
    comparison = compare(legacy_tree, ported_tree, ALLOWED_DIFFERENCES)
    assert comparison.equal, comparison.report()
    port_ = read_tree(ported_tree)
    # The trees are the element's work, not two empty trees alike.
    greeting = env_extra.get("DIB_HELLO_GREETING", "Hello from hello-legacy")
    assert (ported_tree / "etc/motd").read_text() == greeting + "\n"
    assert port_["/etc/motd"].mode == int(env_extra.get("DIB_HELLO_MOTD_MODE", "0644"), 8)
    assert port_["/etc/hello/current.conf"].target == "conf.d/10-default.conf"
    assert port_["/etc/hello/conf.d/10-default.conf"].mode == 0o600
    hello = port_["/var/lib/hello"]
    assert (hello.uid, hello.gid) == (1000, 1000)
    assert (ported_tree / "var/lib/hello/platform").read_text() in ("other\n", "arm\n")
    assert (ported_tree / "etc/hello/cleaned-up").read_text() == "done\n"
    assert "arch=" in (ported_tree / "etc/hello/build-info").read_text()


DOCS_BLOCK = re.compile(r"^( *)```python\n(.*?)^\1```", re.MULTILINE | re.DOTALL)


def translated_hooks() -> str:
    """The translated hooks docs/migrating.md shows, as Python source."""
    for _indent, block in DOCS_BLOCK.findall((REPO / "docs" / "migrating.md").read_text()):
        if "class HelloSettings" in block:
            return textwrap.dedent(block)
    raise AssertionError("docs/migrating.md lost its translated hooks")


def without_hooks(module: str, *functions: str) -> str:
    """``module`` without the generated hooks ``functions`` (decorator and body)."""
    chunks = module.split("\n\n\n")
    return "\n\n\n".join(c for c in chunks if not any(f"def {f}(" in c for f in functions))


@pytest.mark.root
def test_the_translation_in_the_docs_builds_the_same_tree(tmp_path: Path) -> None:
    package = port(EXAMPLE / "legacy" / "hello-legacy", tmp_path / "ported").package
    init = package / "__init__.py"
    hooks = ("install_50_hello_files", "post_install_60_hello_state")
    init.write_text(without_hooks(init.read_text(), *hooks) + "\n\n" + translated_hooks())
    (package / "install.d" / "50-hello-files").unlink()  # no longer run by anything
    (package / "post-install.d" / "60-hello-state").unlink()
    legacy = build_tree(tmp_path / "legacy-build", EXAMPLE / "legacy", {})
    translated = build_tree(tmp_path / "translated-build", package.parent, {})
    comparison = compare(legacy, translated, ALLOWED_DIFFERENCES)
    assert comparison.equal, comparison.report()
    hello = read_tree(translated)["/var/lib/hello"]
    assert (hello.uid, hello.gid) == (1000, 1000)
