"""What a person sees from the command line: --version, ``dibpy show``, shell completion,
the progress display on a terminal, plain timestamped lines elsewhere (CI logs, --no-progress),
DIB_QUIET and --log-file. Builds run for real (root, about a second each)."""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import EXAMPLES, IS_ROOT, clean_env, make_element, run_dibpy
from rich.console import Console

import dibpy
from dibpy import events
from dibpy.frontends import progress
from dibpy.phases import Phase

TIMESTAMPED = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} \| ")
BUSYBOX = Path("/bin/busybox")
needs_build = pytest.mark.skipif(
    not IS_ROOT or not BUSYBOX.is_file(), reason="needs root and a static busybox"
)


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
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


# --- --version, show, completion ----------------------------------------------------------


def test_version(tmp_path: Path) -> None:
    done = run_dibpy(["--version"], clean_env(tmp_path), tmp_path)
    assert done.returncode == 0
    assert done.stdout.strip() == f"dibpy {dibpy.__version__}"


SHOWN = '''
"""Shows everything show can show.

A second paragraph of doc.
"""
from pathlib import Path

from dibpy import BuildContext, ElementSettings, cleanup_hook, root_hook, setting

DEPENDS = ["test-os"]
PROVIDES = ["showable"]
CONFLICTS = ["other-thing"]
ENVIRONMENT = {"SHOW_MODE": "loud"}
PACKAGES = {"curl": None, "jq": {"phase": "pre-install"}}
HOST_TOOLS = {"xz": "xz-utils", "tar": ""}


class ShowSettings(ElementSettings):
    colour: str = setting("SHOW_COLOUR", "blue", "the colour of things")
    count: int = setting("SHOW_COUNT", 3)
    where: Path | None = setting("SHOW_WHERE", None, "a directory")


@root_hook(order=40)
def second(ctx: BuildContext) -> None:
    """The second root hook."""


@root_hook(order=5)
def first(ctx: BuildContext) -> None:
    """The first root hook."""


@cleanup_hook(order=90)
def tidy(ctx: BuildContext) -> None:
    pass
'''


def test_show_text(element_dir: Path, cli_env: dict[str, str], tmp_path: Path) -> None:
    path = make_element(element_dir, "showable", SHOWN)
    done = run_dibpy(["show", "--element-path", str(element_dir), "showable"], cli_env, tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.splitlines()[0] == f"showable  (path {path})"
    assert "KIND:       python\n" in out
    assert "Shows everything show can show." in out and "A second paragraph of doc." in out
    assert "DEPENDS:    test-os" in out
    assert "PROVIDES:   showable" in out
    assert "CONFLICTS:  other-thing" in out
    assert "SHOW_MODE=loud" in out
    assert "PACKAGES:   curl jq" in out
    assert "HOST_TOOLS: xz (xz-utils) tar (tar)" in out
    hooks = out[out.index("Hooks:") : out.index("Settings:")]
    assert re.search(r"root:\n +05  first  The first root hook\.\n +40  second", hooks), hooks
    assert re.search(r"cleanup:\n +90  tidy\n", hooks), hooks
    assert "SHOW_COLOUR (str, default 'blue')  the colour of things" in out
    assert "SHOW_COUNT (int, default 3)" in out
    assert "SHOW_WHERE (Path | None, default None)  a directory" in out


def test_show_json(element_dir: Path, cli_env: dict[str, str], tmp_path: Path) -> None:
    make_element(element_dir, "showable", SHOWN)
    done = run_dibpy(
        ["show", "--json", "--element-path", str(element_dir), "showable"], cli_env, tmp_path
    )
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info["origin"] == "path"
    assert info["kind"] == "python" and info["folder"] is None
    assert info["environment_d"] == info["data"] == info["source_repositories"] == []
    assert info["pkg_map"] is info["svc_map"] is False
    assert info["host_tools"] == {"xz": "xz-utils", "tar": "tar"}
    assert info["hooks"] == {
        "root": [
            {"order": 5, "hook": "first", "doc": "The first root hook."},
            {"order": 40, "hook": "second", "doc": "The second root hook."},
        ],
        "cleanup": [{"order": 90, "hook": "tidy", "doc": ""}],
    }
    assert {s["variable"]: s["default"] for s in info["settings"]} == {
        "SHOW_COLOUR": "blue",
        "SHOW_COUNT": 3,
        "SHOW_WHERE": None,
    }


def test_show_a_built_in_element(cli_env: dict[str, str], tmp_path: Path) -> None:
    done = run_dibpy(["show", "--json", "dpkg"], cli_env, tmp_path)
    info = json.loads(done.stdout)
    assert info["origin"] == "built-in"
    assert "write_dpkg_manifest" in [h["hook"] for h in info["hooks"]["finalise"]]
    assert "DIB_APT_LOCAL_CACHE" in [s["variable"] for s in info["settings"]]


def write_legacy_element(directory: Path) -> Path:
    """A DIB folder element with one of each of the files ``dibpy show`` reports."""
    folder = directory / "folder-thing"
    files = {
        "README.rst": "============\nfolder-thing\n============\nA folder element to show.\n",
        "element-deps": "test-os\npackage-installs\n",
        "element-provides": "thing\n",
        "environment.d/10-thing.bash": "export THING=1\n",
        "environment.d/20-more": "export MORE=1\n",
        "package-installs.yaml": "curl:\njq:\n  phase: pre-install\n",
        "pkg-map": "{}\n",
        "svc-map": "{}\n",
        "static/etc/thing.conf": "x\n",
        "bin/thing": "#!/bin/sh\n",
        "init-scripts/systemd/thing.service": "[Unit]\n",
        "source-repository-thing": "thing git /opt/thing https://example.org/thing\n",
        "root.d/10-fetch": "#!/bin/bash\n",
        "install.d/50-thing": "#!/bin/bash\n",
        "install.d/thing-source-install/40-from-source": "#!/bin/bash\n",
        "install.d/README.rst": "not a script\n",
    }
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if ".d/" in name and not name.startswith("environment.d") and "README" not in name:
            path.chmod(0o755)
    return folder


def test_show_a_legacy_element_json(
    element_dir: Path, cli_env: dict[str, str], tmp_path: Path
) -> None:
    folder = write_legacy_element(element_dir)
    done = run_dibpy(
        ["show", "--json", "--element-path", str(element_dir), "folder-thing"], cli_env, tmp_path
    )
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info["kind"] == "legacy"
    assert info["origin"] == "path"
    assert info["folder"] == info["location"] == str(folder)
    assert info["doc"] == "A folder element to show."
    assert info["depends"] == ["test-os", "package-installs"]
    assert info["provides"] == ["thing"]
    assert info["environment_d"] == ["10-thing.bash", "20-more"]
    assert info["packages"] == ["curl", "jq"]
    assert info["pkg_map"] is info["svc_map"] is True
    assert info["data"] == ["static/", "bin/", "init-scripts/"]
    assert info["source_repositories"] == ["source-repository-thing"]
    assert info["hooks"] == {
        "root": [{"order": 10, "hook": "10-fetch", "doc": "on the host"}],
        "install": [
            {
                "order": 40,
                "hook": "40-from-source",
                "doc": "in the chroot, from install.d/thing-source-install/ when install type "
                "'source'",
            },
            {"order": 50, "hook": "50-thing", "doc": "in the chroot"},
        ],
    }
    assert info["settings"] == []


def test_show_a_legacy_element_text(
    element_dir: Path, cli_env: dict[str, str], tmp_path: Path
) -> None:
    folder = write_legacy_element(element_dir)
    argv = ["show", "--element-path", str(element_dir), "folder-thing"]
    done = run_dibpy(argv, cli_env, tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"folder-thing  (path {folder})"
    assert lines[2] == "  A folder element to show."
    for line in (
        "KIND:       legacy (a DIB folder element)",
        "DEPENDS:    test-os package-installs",
        "PROVIDES:   thing",
        "ENV.D:      10-thing.bash 20-more",
        "PACKAGES:   curl jq",
        "MAPS:       pkg-map svc-map",
        "DATA:       static/ bin/ init-scripts/",
        "SOURCES:    source-repository-thing",
        "  root:",
        "    10  10-fetch  on the host",
        "    40  40-from-source  in the chroot, from install.d/thing-source-install/ when "
        "install type 'source'",
        "    50  50-thing  in the chroot",
        "Settings: none",
    ):
        assert line in lines, (line, lines)


def test_show_one_of_dibs_folders(cli_env: dict[str, str], tmp_path: Path) -> None:
    done = run_dibpy(["show", "--json", "ibft-interfaces"], cli_env, tmp_path)
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert (info["kind"], info["origin"]) == ("legacy", "diskimage-builder")
    assert info["folder"].endswith("/diskimage_builder/elements/ibft-interfaces")
    assert info["depends"] == ["dib-init-system", "install-static", "package-installs", "pkg-map"]
    assert info["data"] == ["static/", "init-scripts/"]
    assert info["hooks"] == {
        "post-install": [{"order": 70, "hook": "70-init-ibft-interfaces", "doc": "in the chroot"}]
    }


def test_show_an_unknown_element_is_exit_2(cli_env: dict[str, str], tmp_path: Path) -> None:
    done = run_dibpy(["show", "--element-path", str(EXAMPLES), "tiny-busybx"], cli_env, tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("dibpy: error: Element 'tiny-busybx' was not found")
    assert "tiny-busybox" in done.stderr and "Traceback" not in done.stderr


def test_bash_completion_completes_commands_and_options(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    script = tmp_path / "dibpy.bash"
    done = run_dibpy(["completion", "bash"], cli_env, tmp_path)
    assert done.returncode == 0, done.stderr
    script.write_text(done.stdout)

    def complete(*words: str) -> list[str]:
        line = " ".join(words)
        probe = (
            f"source {script}; COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; "
            f'COMP_LINE="{line}"; COMP_POINT={len(line)}; '
            f'_shtab_dibpy dibpy "{words[-1]}" "{words[-2]}"; printf "%s\\n" "${{COMPREPLY[@]}}"'
        )
        ran = subprocess.run(
            ["bash", "-c", probe],
            env={**cli_env, "PATH": f"{Path(sys.executable).parent}:{cli_env['PATH']}"},
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return sorted(ran.stdout.split())

    assert complete("dibpy", "s") == ["show"]
    assert complete("dibpy", "b") == ["boot", "build"]
    assert complete("dibpy", "build", "--no-p") == ["--no-progress"]
    assert complete("dibpy", "build", "--stop-after", "pre-") == ["pre-finalise", "pre-install"]
    # Element names, as `dibpy elements --names` finds them (here: the built-ins and the
    # folders of the diskimage-builder installed for the tests).
    assert complete("dibpy", "show", "deb") == [
        "debian",
        "debian-minimal",
        "debian-systemd",
        "debian-upstart",
        "debootstrap",
    ]
    assert complete("dibpy", "build", "-n", "ubuntu-m") == ["ubuntu-minimal"]
    assert complete("dibpy", "plan", "vm", "block-device-") == [
        "block-device-efi",
        "block-device-efi-4k",
        "block-device-efi-lvm",
        "block-device-gpt",
        "block-device-mbr",
    ]


def test_elements_names(element_dir: Path, cli_env: dict[str, str], tmp_path: Path) -> None:
    done = run_dibpy(["elements", "--names", "--element-path", str(element_dir)], cli_env, tmp_path)
    assert done.returncode == 0, done.stderr
    names = done.stdout.splitlines()
    assert names == sorted(names)
    assert {"test-os", "dpkg", "vm"} <= set(names)


def test_zsh_completion_script(cli_env: dict[str, str], tmp_path: Path) -> None:
    done = run_dibpy(["completion", "zsh"], cli_env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("#compdef dibpy")
    assert "--no-progress" in done.stdout and "--element-path" in done.stdout
    if shutil.which("zsh"):
        script = tmp_path / "_dibpy"
        script.write_text(done.stdout)
        subprocess.run(["zsh", "-n", str(script)], check=True, timeout=30)


# --- the two views, fed events directly ---------------------------------------------------


def test_terminal_view_shows_hooks_downloads_outputs_and_the_timing_table() -> None:
    console = Console(record=True, force_terminal=True, width=100, color_system=None)
    with progress.TerminalView(console) as view:
        view.on_event(events.BuildStarted("out/img", ("tiny-busybox",), ("tar",)))
        view.on_event(events.PhaseStarted(Phase.ROOT, 2))
        view.on_event(events.HookStarted(Phase.ROOT, "tiny-busybox", "create_tree", 10))
        view.on_event(events.HookFinished(Phase.ROOT, "tiny-busybox", "create_tree", 0.25))
        view.on_event(events.HookStarted(Phase.ROOT, "ubuntu", "fetch", 20))
        for done in (0, 5 << 20, 10 << 20):
            view.on_event(events.DownloadProgress("http://mirror/x/cloud.img", done, 10 << 20))
        view.on_event(events.HookFinished(Phase.ROOT, "ubuntu", "fetch", 3.5))
        view.on_event(events.PhaseFinished(Phase.ROOT, 3.75))
        view.on_event(events.OutputWritten(Path("/o/img.tar"), "tar", 3 << 20, "ab" * 32))
        view.on_event(events.BuildFinished(4.0, (Path("/o/img.tar"),), None))
        assert view.bars == {}  # the finished download's bar is gone
    text = console.export_text()
    assert "Building out/img (tar) from tiny-busybox" in text
    assert re.search(r"done root +create_tree \(tiny-busybox\) 0\.25s", text), text
    assert "Downloaded http://mirror/x/cloud.img (10.0 MiB in" in text
    assert "Wrote /o/img.tar (3.0 MiB, sha256 abababababababab...)" in text
    table = text[text.index("Hook timings") :]
    assert re.search(r"root +│ create_tree +│ tiny-busybox +│ +0\.25", table), table
    assert re.search(r"│ fetch +│ ubuntu +│ +3\.50", table), table
    assert re.search(r"│ total +│ +3\.75", table), table


def test_terminal_view_names_the_hook_that_failed() -> None:
    console = Console(record=True, force_terminal=True, width=100, color_system=None)
    with pytest.raises(RuntimeError), progress.TerminalView(console) as view:
        view.on_event(events.PhaseStarted(Phase.INSTALL, 2))
        view.on_event(events.HookStarted(Phase.INSTALL, "tiny-busybox", "install_applets", 20))
        view.on_event(events.HookFinished(Phase.INSTALL, "tiny-busybox", "install_applets", 1.0))
        view.on_event(events.HookStarted(Phase.INSTALL, "broken", "explode", 30))
        raise RuntimeError("the build failed")
    text = console.export_text()
    assert re.search(r"failed install +explode \(broken\)", text), text
    assert "install_applets" in text[text.index("Hook timings") :]


def test_plain_view_reports_downloads_by_quarters(caplog: pytest.LogCaptureFixture) -> None:
    view = progress.PlainView()
    with caplog.at_level(logging.INFO, logger="dibpy.frontends.progress"):
        for done in range(0, 101, 10):
            view.on_event(events.DownloadProgress("http://m/f", done, 100))
        view.on_event(events.DownloadProgress("http://m/unknown-size", 10, None))
    assert [r.getMessage() for r in caplog.records] == [
        f"Downloading http://m/f: {p}% of 100 B" for p in (25, 50, 75, 100)
    ]


# --- real builds: what reaches the terminal or the log -----------------------------------


def build_argv(tmp_path: Path, *extra: str) -> list[str]:
    return [
        "build",
        "-n",
        "-t",
        "tar",
        "-o",
        str(tmp_path / "out"),
        "--element-path",
        str(EXAMPLES),
        *extra,
        "tiny-busybox",
    ]


def in_a_terminal(argv: list[str], env: dict[str, str], cwd: Path) -> str:
    """Run ``python -m dibpy ARGV`` with a pseudo-terminal as stdout and stderr."""
    import shlex

    command = shlex.join([sys.executable, "-m", "dibpy", *argv])
    done = subprocess.run(
        ["script", "-qec", command, "/dev/null"],
        stdin=subprocess.DEVNULL,  # as in CI, which has no standard input
        env={**env, "COLUMNS": "120", "TERM": "xterm"},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", done.stdout).replace("\r", "")


@pytest.mark.root
@needs_build
def test_not_a_terminal_gives_plain_timestamped_lines(tmp_path: Path) -> None:
    done = run_dibpy(build_argv(tmp_path), clean_env(tmp_path), tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        str(tmp_path / "out.tar"),
        str(tmp_path / "out.manifest.json"),
    ]
    assert "\x1b" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    starts = [line for line in lines if TIMESTAMPED.match(line)]
    assert all(TIMESTAMPED.match(line) or line.startswith("  ") for line in lines), lines
    texts = [line.split(" | ", 1)[1] for line in starts]
    assert "root: create_tree (tiny-busybox)" in texts
    assert "install phase timings:" in texts
    assert any(t.startswith("$ chroot ") for t in texts)


@pytest.mark.root
@needs_build
def test_a_terminal_gets_the_progress_display(tmp_path: Path) -> None:
    screen = in_a_terminal(build_argv(tmp_path), clean_env(tmp_path), tmp_path)
    assert "Building" in screen and "from tiny-busybox" in screen
    assert re.search(r"done install +install_applets \(tiny-busybox\)", screen), screen
    assert "Hook timings" in screen
    assert re.search(r"finalise +│ write_motd +│ tiny-busybox", screen), screen
    assert "$ chroot" not in screen  # command lines go to --log-file, not over the display
    assert not any(TIMESTAMPED.match(line) for line in screen.splitlines()), screen
    assert screen.rstrip().endswith(str(tmp_path / "out.manifest.json"))


@pytest.mark.root
@needs_build
def test_a_terminal_with_a_log_file_keeps_the_display_and_dib_quiet_silences_it(
    tmp_path: Path,
) -> None:
    log_file = tmp_path / "build.log"
    screen = in_a_terminal(
        build_argv(tmp_path, "--log-file", str(log_file)), clean_env(tmp_path), tmp_path
    )
    assert "Hook timings" in screen
    assert "$ chroot" in log_file.read_text()
    quiet = in_a_terminal(build_argv(tmp_path), clean_env(tmp_path, DIB_QUIET="1"), tmp_path)
    assert quiet.split() == [str(tmp_path / "out.tar"), str(tmp_path / "out.manifest.json")]


@pytest.mark.root
@needs_build
def test_no_progress_on_a_terminal_gives_plain_lines(tmp_path: Path) -> None:
    screen = in_a_terminal(build_argv(tmp_path, "--no-progress"), clean_env(tmp_path), tmp_path)
    assert "Hook timings" not in screen
    assert any(
        TIMESTAMPED.match(line) and line.endswith("root: create_tree (tiny-busybox)")
        for line in screen.splitlines()
    ), screen


@pytest.mark.root
@needs_build
def test_dib_quiet_and_log_file(tmp_path: Path) -> None:
    quiet = run_dibpy(build_argv(tmp_path), clean_env(tmp_path, DIB_QUIET="1"), tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == ""
    assert quiet.stdout.splitlines()[0] == str(tmp_path / "out.tar")

    log_file = tmp_path / "build.log"
    logged = run_dibpy(
        build_argv(tmp_path, "--log-file", str(log_file)), clean_env(tmp_path), tmp_path
    )
    assert logged.returncode == 0, logged.stderr
    assert logged.stderr == ""  # --log-file implies DIB_QUIET=1, as in DIB
    text = log_file.read_text()
    assert re.search(
        r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \| INFO dibpy.host.run \| \$ chroot ", text, re.M
    )

    both = run_dibpy(
        build_argv(tmp_path, "--log-file", str(log_file)),
        clean_env(tmp_path, DIB_QUIET="0"),
        tmp_path,
    )
    assert both.returncode == 0, both.stderr
    assert "root: create_tree (tiny-busybox)" in both.stderr


def test_a_bad_dib_quiet_is_exit_2(tmp_path: Path) -> None:
    done = run_dibpy(build_argv(tmp_path), clean_env(tmp_path, DIB_QUIET="maybe"), tmp_path)
    assert done.returncode == 2
    assert "DIB_QUIET='maybe'" in done.stderr and "Traceback" not in done.stderr
