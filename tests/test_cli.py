"""The command line: plan, elements, and the errors a user sees (one paragraph, exit code 2,
no traceback, nothing left behind). None of these builds anything, so none needs root."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import EXAMPLES, build_dirs, clean_env, make_element, mount_lines, run_dibpy

from dibpy.elements import builtin_elements_dir
from dibpy.frontends import cli

PHASE_NAMES = [
    "root",
    "extra-data",
    "pre-install",
    "install",
    "post-install",
    "post-root",
    "block-device",
    "pre-finalise",
    "finalise",
    "cleanup",
]
UBUNTU_MINIMAL = [
    "base",
    "block-device-mbr",
    "bootloader",
    "debootstrap",
    "dib-init-system",
    "dpkg",
    "install-bin",
    "install-types",
    "manifests",
    "modprobe",
    "package-installs",
    "pkg-map",
    "sysprep",
    "ubuntu-common",
    "ubuntu-minimal",
    "vm",
]


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """``cli.main`` points the dibpy logger at the (captured) stderr; undo that afterwards."""
    logger = logging.getLogger("dibpy")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handlers, level, propagate = saved
    for handler in handlers:
        logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = propagate


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run ``cli.main`` in-process as if from a shell in ``tmp_path`` with a clean env."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("DIB_", "TINY_", "ELEMENTS_PATH", "ARCH", "TMP_DIR")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TMP_DIR", str(tmp_path / "tmp"))
    monkeypatch.setenv("DIB_IMAGE_CACHE", str(tmp_path / "cache"))
    return tmp_path


def assert_one_error_paragraph(stderr: str) -> None:
    assert stderr.startswith("dibpy: error: "), stderr
    assert "Traceback" not in stderr
    lines = stderr.rstrip("\n").split("\n")
    assert all(line.startswith("  ") for line in lines[1:]), stderr


def assert_mentions(stderr: str, texts: list[str]) -> None:
    """Each of ``texts`` is in ``stderr``, however the paragraph was wrapped."""
    flat = "".join(stderr.split())
    for text in texts:
        assert "".join(text.split()) in flat, (text, stderr)


def assert_nothing_left(tmp_path: Path) -> None:
    assert build_dirs(tmp_path / "tmp") == []
    assert mount_lines(tmp_path) == []


# --- plan and elements -------------------------------------------------------------------


def test_plan_json(tmp_path: Path) -> None:
    done = run_dibpy(
        ["plan", "--json", "-a", "amd64", "vm", "ubuntu-minimal"], clean_env(tmp_path), tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    data = json.loads(done.stdout)
    assert set(data) == {"elements", "phases", "run_order"}
    assert sorted(data["elements"]) == UBUNTU_MINIMAL
    assert data["elements"][:3] == ["base", "vm", "ubuntu-minimal"]
    assert list(data["phases"]) == PHASE_NAMES
    for items in data["phases"].values():
        for item in items:
            assert set(item) == {"order", "element", "hook", "kind"}
            assert item["kind"] == "python"  # every element of this set is a built-in module
            assert item["element"] in data["elements"]
    assert build_dirs(tmp_path / "tmp") == []


def test_plan_text(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["plan", "-a", "arm64", "vm", "debian-minimal"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("Elements: base vm debian-minimal block-device-efi ")
    for phase in PHASE_NAMES:
        assert f"{phase}:" in lines


def test_plan_of_a_user_element(
    in_tmp: Path, element_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_element(
        element_dir,
        "mine",
        "from dibpy import install_hook\n\n"
        "@install_hook(order=7)\ndef do_it(ctx):\n    '''Does it.'''\n",
    )
    argv = ["plan", "--json", "-n", "--element-path", str(element_dir), "test-os", "mine"]
    assert cli.main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["elements"] == ["test-os", "mine"]
    assert data["phases"]["install"] == [
        {"order": 7, "element": "mine", "hook": "do_it", "kind": "python"}
    ]
    assert all(data["phases"][p] == [] for p in PHASE_NAMES if p != "install")


REPLACES = " (replaces diskimage-builder's folder element)"


def test_elements_lists_builtins_with_kind_origin_and_doc(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["elements"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["NAME", "KIND", "SUMMARY"]
    builtin = builtin_elements_dir()
    for name in ("vm", "dpkg", "ubuntu-minimal", "debian-minimal"):
        first = next(i for i, line in enumerate(lines) if line.split()[:1] == [name])
        assert lines[first].split()[1] == "python"
        # DIB has a folder of each of these names; dibpy's module is the one used.
        assert lines[first + 1].strip() == f"from built-in {builtin / name}.py{REPLACES}"
    vm = next(line for line in lines if line.startswith("vm "))
    assert "A partitioned, bootable disk image" in vm


def test_elements_lists_dibs_folders_as_legacy(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["elements"]) == 0
    lines = capsys.readouterr().out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.split()[:1] == ["simple-init"])
    assert lines[at].split(None, 2)[1:] == [
        "legacy",
        "Basic network and system configuration that can't be done until boot",
    ]
    where = lines[at + 1].strip()
    assert where.startswith("from diskimage-builder ")
    assert where.endswith("/diskimage_builder/elements/simple-init")


def test_elements_shows_user_elements_overrides_and_broken_ones(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    user = in_tmp / "user"
    dpkg = make_element(user, "dpkg", '"""My dpkg."""\n')
    make_element(user, "broken-one", "def oops(:\n")
    assert cli.main(["elements", "--element-path", str(user)]) == 0
    lines = capsys.readouterr().out.splitlines()
    at = lines.index(next(line for line in lines if line.startswith("dpkg ")))
    assert lines[at].split(None, 2)[1:] == ["python", "My dpkg."]
    assert lines[at + 1].strip() == f"from path {dpkg}{REPLACES}"
    broken = next(line for line in lines if line.startswith("broken-one "))
    assert "(cannot be loaded:" in broken


def test_elements_honours_elements_path(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    make_element(in_tmp / "env-elements", "from-env", '"""Found through ELEMENTS_PATH."""\n')
    monkeypatch.setenv("ELEMENTS_PATH", str(in_tmp / "env-elements"))
    assert cli.main(["elements"]) == 0
    assert any(
        line.startswith("from-env ") and "Found through ELEMENTS_PATH." in line
        for line in capsys.readouterr().out.splitlines()
    )


# --- errors ------------------------------------------------------------------------------

TINY = ["build", "-n", "-t", "tar", "--element-path", str(EXAMPLES)]

ERRORS = {
    "unknown-element": (
        ["plan", "vm", "ubuntu-minmal"],
        {},
        ["'ubuntu-minmal'", "Did you mean 'ubuntu-minimal'"],
    ),
    "unknown-element-build": (
        ["build", "-t", "tar", "-o", "out", "vm", "ubuntu-minmal"],
        {},
        ["Did you mean 'ubuntu-minimal'"],
    ),
    "unknown-dependency": (
        ["plan", "-n", "--element-path", "{elements}", "test-os", "needy"],
        {},
        ["'not-there'", "needed by 'needy'"],
    ),
    "no-os": (["plan", "vm"], {}, ["operating-system", "ubuntu-minimal", "debian-minimal"]),
    "no-os-build": (
        ["build", "-t", "tar", "-o", "out", "vm", "bootloader"],
        {},
        ["operating-system"],
    ),
    "two-oses": (
        ["build", "-t", "tar", "-o", "out", "vm", "ubuntu", "debian-minimal"],
        {},
        ["'ubuntu' and 'debian-minimal'"],
    ),
    "virtual-name": (
        ["plan", "vm", "ubuntu", "operating-system"],
        {},
        ["'operating-system'", "'ubuntu'"],
    ),
    "conflict": (
        [
            "build",
            "-t",
            "tar",
            "-o",
            "out",
            "--element-path",
            "{elements}",
            "vm",
            "ubuntu-minimal",
            "grumpy",
        ],
        {},
        ["'grumpy' conflicts with 'dpkg'"],
    ),
    "syntax-error": (
        [
            "build",
            "-t",
            "tar",
            "-o",
            "out",
            "-n",
            "--element-path",
            "{elements}",
            "test-os",
            "broken",
        ],
        {},
        ["syntax error", "{elements}/broken.py:2"],
    ),
    "unknown-format": (["build", "-t", "floppy", "vm", "ubuntu"], {}, ["floppy"]),
    "unknown-format-in-list": (["build", "-t", "tar,floppy", "vm", "ubuntu"], {}, ["floppy"]),
    "unimplemented-format": (
        [*TINY, "-t", "docker", "-o", "out", "tiny-busybox"],
        {},
        ["docker", "not implemented", "tar"],
    ),
    "unknown-arch": (
        ["build", "-t", "tar", "-a", "sparc", "vm", "ubuntu"],
        {},
        ["'sparc'", "amd64"],
    ),
    "unknown-arch-plan": (["plan", "-a", "sparc", "vm", "ubuntu"], {}, ["'sparc'"]),
    "bad-debug-trace": (
        [*TINY, "-o", "out", "tiny-busybox"],
        {"DIB_DEBUG_TRACE": "abc"},
        ["DIB_DEBUG_TRACE", "'abc'"],
    ),
    "bad-debug-trace-with-x": (
        [*TINY, "-x", "-o", "out", "tiny-busybox"],
        {"DIB_DEBUG_TRACE": "abc"},
        ["DIB_DEBUG_TRACE", "'abc'"],
    ),
    "bad-offline": (
        [*TINY, "-o", "out", "tiny-busybox"],
        {"DIB_OFFLINE": "perhaps"},
        ["DIB_OFFLINE"],
    ),
    "bad-element-setting": (
        [*TINY, "-o", "out", "tiny-busybox"],
        {"TINY_UID": "abc"},
        ["TINY_UID='abc'", "'tiny-busybox'"],
    ),
    "unwritable-output": (
        [*TINY, "-o", "/nonexistent/dir/x", "tiny-busybox"],
        {},
        ["/nonexistent/dir/x.tar", "/nonexistent/dir"],
    ),
    "elements-path-not-a-dir": (
        ["plan", "vm", "ubuntu"],
        {"ELEMENTS_PATH": "/nonexistent/elements"},
        ["/nonexistent/elements", "not a directory"],
    ),
    "element-path-not-a-dir": (
        ["elements", "--element-path", "/nonexistent/elements"],
        {},
        ["/nonexistent/elements"],
    ),
}


def write_error_elements(directory: Path) -> None:
    make_element(directory, "needy", 'DEPENDS = ["not-there"]\n')
    make_element(directory, "grumpy", '"""Hates dpkg."""\nCONFLICTS = ["dpkg"]\n')
    make_element(directory, "broken", '"""Broken."""\ndef oops(:\n    pass\n')


def expand(items: list[str], elements: Path) -> list[str]:
    return [item.replace("{elements}", str(elements)) for item in items]


@pytest.mark.parametrize("case", [c for c in ERRORS if c != "bad-debug-trace-with-x"])
def test_errors_in_process(
    case: str,
    in_tmp: Path,
    element_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv, env, expected = ERRORS[case]
    write_error_elements(element_dir)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert cli.main(expand(argv, element_dir)) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert_one_error_paragraph(captured.err)
    assert_mentions(captured.err, expand(expected, element_dir))
    assert_nothing_left(in_tmp)
    assert not (in_tmp / "out.tar").exists()


@pytest.mark.parametrize(
    "case",
    [
        "unknown-element",
        "conflict",
        "syntax-error",
        "bad-element-setting",
        "bad-debug-trace-with-x",
    ],
)
def test_errors_from_the_command(case: str, tmp_path: Path, element_dir: Path) -> None:
    argv, env, expected = ERRORS[case]
    write_error_elements(element_dir)
    done = run_dibpy(expand(argv, element_dir), clean_env(tmp_path, **env), tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert_one_error_paragraph(done.stderr)
    assert_mentions(done.stderr, expand(expected, element_dir))
    assert_nothing_left(tmp_path)


def test_error_paragraph_keeps_paths_and_names_whole(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The paragraph is wrapped for the terminal, but never inside a path or an element name:
    # a user copies them from the message.
    elements = in_tmp / "a-directory-with-hyphens" / "and-another-one-for-length" / "elements"
    path = make_element(elements, "a-broken-element-name", '"""Doc."""\ndef oops(:\n')
    assert cli.main(["plan", "-n", "--element-path", str(elements), "a-broken-element-name"]) == 2
    err = capsys.readouterr().err
    assert f"{path}:2" in err
    assert "'a-broken-element-name'" in err


def test_a_tmp_dir_that_is_not_a_directory_is_a_clean_error(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "a-file"
    not_a_dir.write_text("")
    argv = ["build", "-n", "-t", "tar", "-o", "out", "--element-path", str(EXAMPLES)]
    env = clean_env(tmp_path, TMP_DIR=str(not_a_dir))
    done = run_dibpy([*argv, "tiny-busybox"], env, tmp_path)
    assert done.returncode in (1, 2), done.stderr
    assert "Traceback" not in done.stderr
    assert "dibpy: error:" in done.stderr
    assert_mentions(done.stderr, [str(not_a_dir)])
    assert not (tmp_path / "out.tar").exists()


def test_debug_shows_the_traceback(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--debug", "plan", "vm", "ubuntu-minmal"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err
    assert "dibpy: error: Element 'ubuntu-minmal'" in err


def test_a_bad_phase_name_is_refused_by_the_parser(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(["build", "--stop-after", "bogus", "vm", "ubuntu"])
    assert caught.value.code == 2
    assert "--stop-after" in capsys.readouterr().err
    assert_nothing_left(in_tmp)
