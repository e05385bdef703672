"""Passwords in URLs never reach what people see: the command log of the runner (argv and
output lines), its errors, the terminal, ``--log-file``, the build events and the manifest,
while the programs dibpy runs still get the real URL.

The first tests drive the pieces directly (fast, no root); the last ones run real builds of
an element that uses a mirror with ``user:password@``, through the API and the CLI.
"""

from __future__ import annotations

import json
import logging
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import EXAMPLES, IS_ROOT, clean_env, make_element, run_dibpy
from rich.console import Console

import dibpy
from dibpy import events
from dibpy.errors import CommandError, HookError, SettingsError
from dibpy.frontends import log, progress
from dibpy.host.run import Runner
from dibpy.outputs.manifest import settings_used
from dibpy.redact import RedactFilter, redact_url

SECRET = "s3cret"
MIRROR = f"http://user:{SECRET}@127.0.0.1:9/debian"
SHOWN = "http://user:***@127.0.0.1:9/debian"

# What apt does with a mirror: echo it on stdout, complain about it on stderr, and record
# the argument it really got (so the tests see the real URL reached the program).
APT_LIKE = (
    "import pathlib, sys\n"
    "pathlib.Path(sys.argv[2]).write_text(sys.argv[1])\n"
    "print('Get:1', sys.argv[1], 'bookworm InRelease', flush=True)\n"
    "print('E: Failed to fetch', sys.argv[1] + '/dists/bookworm/InRelease', file=sys.stderr)\n"
    "sys.exit(int(sys.argv[3]))\n"
)


def apt_like(got: Path, status: int = 0) -> list[str]:
    return [sys.executable, "-c", APT_LIKE, MIRROR, str(got), str(status)]


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    logger = logging.getLogger("dibpy")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        if handler not in saved[0]:
            handler.close()
    handlers, level, propagate = saved
    for handler in handlers:
        logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = propagate


# --- the redactor -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (MIRROR, SHOWN),
        ("http://u:p%40ss@proxy:3128/", "http://u:***@proxy:3128/"),
        ("https://u:p@ss@host/x@y", "https://u:***@host/x@y"),  # the last @ of the host part
        ("http://:tok@host", "http://:***@host"),
        ("http://u:@host", "http://u:***@host"),
        ("git+ssh://git:pw@example.org/repo", "git+ssh://git:***@example.org/repo"),
        (
            f"Get:1 {MIRROR} bookworm InRelease [151 kB]",
            f"Get:1 {SHOWN} bookworm InRelease [151 kB]",
        ),
        (
            f"deb {MIRROR} bookworm main\ndeb-src 'ftp://a:b@m/x' y",
            f"deb {SHOWN} bookworm main\ndeb-src 'ftp://a:***@m/x' y",
        ),
        (f"a={MIRROR},b=https://c:d@e", f"a={SHOWN},b=https://c:***@e"),
        ("http://proxy:3128/path", "http://proxy:3128/path"),  # a port is no password
        ("http://user@host/", "http://user@host/"),
        ("mail me: a:b@example.org, see http://host/a:b@c", None),  # no URL userinfo
        ("user:***@ stays", None),
    ],
)
def test_redact_url(text: str, shown: str | None) -> None:
    assert redact_url(text) == (text if shown is None else shown)
    assert redact_url(redact_url(text)) == redact_url(text)


def test_known_secrets_are_masked_outside_urls_too() -> None:
    said = "407 for user 'u' with password p@ss (p%40ss) via http://u:p%40ss@proxy:3128"
    assert redact_url(said, ["p%40ss"]) == "407 for user 'u' with password *** (***) via " + (
        "http://u:***@proxy:3128"
    )


# --- the runner: command line, output, errors ----------------------------------------------


def test_runner_logs_argv_and_output_redacted_but_runs_the_real_url(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    got = tmp_path / "got"
    caplog.set_level(logging.DEBUG, "dibpy")
    Runner().run(apt_like(got))
    assert got.read_text() == MIRROR  # the program got the URL itself
    assert SECRET not in caplog.text
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("$ ") and SHOWN in m for m in messages), messages
    assert f"  Get:1 {SHOWN} bookworm InRelease" in messages
    assert f"  E: Failed to fetch {SHOWN}/dists/bookworm/InRelease" in messages


def test_a_failing_command_is_an_error_without_the_password(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, "dibpy")
    with pytest.raises(CommandError) as caught:
        Runner().run(apt_like(tmp_path / "got", 100))
    error = caught.value
    assert error.returncode == 100
    assert SECRET not in str(error)
    assert SECRET not in " ".join(error.argv) and SECRET not in error.output_tail
    assert SHOWN in " ".join(error.argv)
    assert f"E: Failed to fetch {SHOWN}/dists" in str(error)
    assert SECRET not in caplog.text


def test_captured_output_is_returned_as_is_and_stderr_logged_redacted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, "dibpy")
    result = Runner().run(apt_like(tmp_path / "got"), capture=True)
    assert MIRROR in result.stdout  # data for the caller, not shown
    assert f"  E: Failed to fetch {SHOWN}/dists/bookworm/InRelease" in caplog.messages
    assert SECRET not in caplog.text


def test_a_command_that_cannot_start_is_named_without_the_password(tmp_path: Path) -> None:
    with pytest.raises(CommandError) as caught:
        Runner().run([str(tmp_path / "no-such-apt"), MIRROR])
    assert caught.value.returncode == 127
    assert SECRET not in str(caught.value) and SHOWN in str(caught.value)


def test_dib_errors_never_show_a_password() -> None:
    bad = SettingsError(f"DIB_DISTRIBUTION_MIRROR={MIRROR!r} is not a mirror.")
    assert str(bad) == f"DIB_DISTRIBUTION_MIRROR={SHOWN!r} is not a mirror."
    failed = HookError("root", "debootstrap", "run", RuntimeError(f"cannot reach {MIRROR}"))
    assert SECRET not in str(failed) and SHOWN in str(failed)


# --- the handlers: terminal, --log-file, events ------------------------------------------


def log_everything(tmp_path: Path) -> None:
    """A command with the URL, a line another module logs itself, and a traceback."""
    Runner().run(apt_like(tmp_path / "got"))
    logging.getLogger("dibpy.frontends.qemu").info(
        "$ %s", f"qemu-system-x86_64 -kernel {MIRROR}/vmlinuz"
    )
    try:
        raise ValueError(f"bad mirror {MIRROR}")
    except ValueError:
        logging.getLogger("dibpy.elements.x").warning("Mirror %s failed", MIRROR, exc_info=True)


def test_stderr_and_log_file_are_redacted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log_file = tmp_path / "build.log"
    log.setup(debug=True, log_file=log_file)
    log_everything(tmp_path)
    for handler in logging.getLogger("dibpy").handlers:
        handler.flush()
    stderr = capsys.readouterr().err
    written = log_file.read_text()
    for text in (stderr, written):
        assert SECRET not in text
        assert f"$ qemu-system-x86_64 -kernel {SHOWN}/vmlinuz" in text
        assert f"Get:1 {SHOWN} bookworm" in text
        assert f"ValueError: bad mirror {SHOWN}" in text  # the traceback, too


def test_the_progress_console_is_redacted(tmp_path: Path) -> None:
    console = Console(record=True, width=200, color_system=None)
    log.setup(console=console)
    log_everything(tmp_path)
    with progress.TerminalView(console) as view:
        for done in (0, 10):
            view.on_event(events.DownloadProgress(f"{MIRROR}/pool/a.deb", done, 10))
    text = console.export_text()
    assert f"Mirror {SHOWN} failed" in text
    assert f"Downloaded {SHOWN}/pool/a.deb" in text
    assert SECRET not in text


def test_events_are_redacted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    received: list[events.Event] = []
    with events.forwarding_logs(received.append):
        log_everything(tmp_path)
    lines = [e.message for e in received if isinstance(e, events.LogLine)]
    assert f"  Get:1 {SHOWN} bookworm InRelease" in lines
    assert f"Mirror {SHOWN} failed" in lines
    assert not any(SECRET in line for line in lines)
    # Events made by anyone carry redacted text.
    assert events.DownloadProgress(f"{MIRROR}/a.deb", 1, 2).url == f"{SHOWN}/a.deb"
    assert events.LogLine(20, "x", f"at {MIRROR}").message == f"at {SHOWN}"
    with caplog.at_level(logging.INFO, "dibpy.frontends.progress"):
        plain = progress.PlainView()
        plain.on_event(events.DownloadProgress(f"{MIRROR}/a.deb", 4, 4))
    assert caplog.messages[-1] == f"Downloading {SHOWN}/a.deb: 100% of 4 B"


def test_the_filter_keeps_other_records_as_they_are() -> None:
    record = logging.LogRecord("dibpy.x", 20, __file__, 1, "%d%% of %s", (50, "x"), None)
    assert RedactFilter().filter(record)
    assert (record.msg, record.args) == ("%d%% of %s", (50, "x"))
    record = logging.LogRecord("dibpy.x", 20, __file__, 1, "at %s", (MIRROR,), None)
    RedactFilter().filter(record)
    assert record.getMessage() == f"at {SHOWN}"


def test_manifest_settings_mask_passwords_in_any_value() -> None:
    chosen = settings_used(
        {
            "DIB_DISTRIBUTION_MIRROR": MIRROR,
            "DIB_APT_SOURCES_CONF": f"default:deb {MIRROR} bookworm main",
            "http_proxy": "http://u:pw@proxy:3128",
            "DIB_ROOT_PASSWORD": "hunter2",
            "DIB_RELEASE": "bookworm",
        }
    )
    assert chosen == {
        "DIB_APT_SOURCES_CONF": f"default:deb {SHOWN} bookworm main",
        "DIB_DISTRIBUTION_MIRROR": SHOWN,
        "DIB_RELEASE": "bookworm",
        "DIB_ROOT_PASSWORD": "***",
        "http_proxy": "http://u:***@proxy:3128",
    }


# --- real builds --------------------------------------------------------------------------

BUSYBOX = Path("/bin/busybox")
needs_build = pytest.mark.skipif(
    not IS_ROOT or not BUSYBOX.is_file(), reason="needs root and a static busybox"
)

# An element that uses a mirror as a distribution element does: it logs it, and runs a
# program (apt-like) with it in its argv.
MIRROR_PROBE = f'''
"""Runs an apt-like program against DIB_DISTRIBUTION_MIRROR."""
import logging
import sys

from dibpy import BuildContext, ElementSettings, root_hook, setting

DEPENDS = ["tiny-busybox"]
APT_LIKE = {APT_LIKE!r}
log = logging.getLogger("dibpy.elements.mirror-probe")


class ProbeSettings(ElementSettings):
    mirror: str = setting("DIB_DISTRIBUTION_MIRROR", "", "the mirror")
    got: str = setting("PROBE_GOT", "", "where the program writes the URL it got")
    status: int = setting("PROBE_STATUS", 0, "the program's exit status")


@root_hook(order=50)
def probe(ctx: BuildContext) -> None:
    """Use the mirror."""
    s = ctx.settings(ProbeSettings)
    log.warning("Using the mirror %s", s.mirror)
    ctx.run([sys.executable, "-c", APT_LIKE, s.mirror, s.got, str(s.status)])
'''


def probe_env(tmp_path: Path, status: int) -> dict[str, str]:
    return clean_env(
        tmp_path,
        DIB_DISTRIBUTION_MIRROR=MIRROR,
        DIB_APT_SOURCES_CONF=f"default:deb {MIRROR} bookworm main",
        PROBE_GOT=str(tmp_path / "got"),
        PROBE_STATUS=str(status),
    )


@pytest.fixture
def probe_elements(tmp_path: Path) -> Path:
    directory = tmp_path / "elements"
    make_element(directory, "mirror-probe", MIRROR_PROBE)
    return directory


@pytest.mark.root
@needs_build
@pytest.mark.parametrize("status", [0, 100])
def test_an_api_build_reports_no_password(
    tmp_path: Path, probe_elements: Path, status: int
) -> None:
    received: list[events.Event] = []

    def build() -> None:
        dibpy.build(
            ["mirror-probe"],
            output=tmp_path / "out",
            formats=["tar"],
            element_paths=[EXAMPLES, probe_elements],
            skip_base=True,
            env=probe_env(tmp_path, status),
            on_event=received.append,
            command=["my-tool", "--mirror", MIRROR],
        )

    if status:
        with pytest.raises(dibpy.HookError) as caught:
            build()
        assert SECRET not in str(caught.value)
        assert f"Failed to fetch {SHOWN}/dists" in str(caught.value)
    else:
        build()
        manifest = (tmp_path / "out.manifest.json").read_text()
        assert SECRET not in manifest
        data = json.loads(manifest)
        assert data["command"] == ["my-tool", "--mirror", SHOWN]
        assert data["settings"]["DIB_DISTRIBUTION_MIRROR"] == SHOWN
        assert data["settings"]["DIB_APT_SOURCES_CONF"] == f"default:deb {SHOWN} bookworm main"
    assert (tmp_path / "got").read_text() == MIRROR
    lines = [e.message for e in received if isinstance(e, events.LogLine)]
    assert f"Using the mirror {SHOWN}" in lines
    assert f"  Get:1 {SHOWN} bookworm InRelease" in lines
    assert SECRET not in repr(received)


def cli_argv(tmp_path: Path, elements: Path, *extra: str) -> list[str]:
    return [
        "build",
        "-n",
        "-t",
        "tar",
        "-o",
        str(tmp_path / "out"),
        "--element-path",
        str(EXAMPLES),
        "--element-path",
        str(elements),
        *extra,
        "mirror-probe",
    ]


@pytest.mark.root
@needs_build
def test_a_failing_cli_build_shows_and_logs_no_password(
    tmp_path: Path, probe_elements: Path
) -> None:
    log_file = tmp_path / "build.log"
    env = {**probe_env(tmp_path, 100), "DIB_QUIET": "0"}  # log lines on stderr as well
    done = run_dibpy(cli_argv(tmp_path, probe_elements, "--log-file", str(log_file)), env, tmp_path)
    assert done.returncode == 1, done.stderr
    assert (tmp_path / "got").read_text() == MIRROR
    written = log_file.read_text()
    for text in (done.stderr, written):
        assert SECRET not in text
        assert f"Using the mirror {SHOWN}" in text
        assert f"Get:1 {SHOWN} bookworm InRelease" in text
        assert f"E: Failed to fetch {SHOWN}/dists" in text
    command = re.search(
        r"INFO dibpy\.host\.run \| \$ \S+ -c import pathlib.*?\n\d{4}-", written, re.S
    )
    assert command is not None and f" {SHOWN} {tmp_path / 'got'} 100\n" in command[0]
    assert "dibpy: error: The root phase failed in hook 'probe'" in done.stderr


@pytest.mark.root
@needs_build
def test_a_terminal_shows_no_password(tmp_path: Path, probe_elements: Path) -> None:
    command = shlex.join([sys.executable, "-m", "dibpy", *cli_argv(tmp_path, probe_elements)])
    done = subprocess.run(
        ["script", "-qec", command, "/dev/null"],
        stdin=subprocess.DEVNULL,
        env={**probe_env(tmp_path, 100), "COLUMNS": "200", "TERM": "xterm"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", done.stdout).replace("\r", "")
    assert done.returncode == 1, screen
    assert f"Using the mirror {SHOWN}" in screen  # a warning: printed over the display
    assert f"Failed to fetch {SHOWN}/dists" in screen  # the error paragraph
    assert SECRET not in screen
    assert (tmp_path / "got").read_text() == MIRROR
