"""The Python API end to end: ``dibpy.plan``, ``dibpy.build`` of a custom element with
``-t tar``, the events a build reports (in order), the BuildResult, the manifest written
beside the outputs, and errors raised as DibError subclasses with their fields.

The builds run for real (root, chroot, about a second each), in this process: that is how
a tool that imports dibpy uses it.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import EXAMPLES, IS_ROOT, build_dirs, clean_env, make_element, mount_lines

import dibpy
from dibpy import events
from dibpy.phases import PHASES

BUSYBOX = Path("/bin/busybox")
needs_busybox_root = [
    pytest.mark.root,
    pytest.mark.skipif(not IS_ROOT, reason="needs root (mount, chroot)"),
    pytest.mark.skipif(not BUSYBOX.is_file(), reason="needs a static busybox (busybox-static)"),
]

# A custom element on top of tiny-busybox: a root hook, a finalise hook that records a
# (made-up) dpkg manifest where the dpkg element writes it, and a typed setting.
CUSTOM = '''
"""An element written for the API test."""
import json

from dibpy import BuildContext, ElementSettings, finalise_hook, root_hook, setting

DEPENDS = ["tiny-busybox"]


class ApiSettings(ElementSettings):
    flavour: str = setting("API_FLAVOUR", "vanilla", "what goes in /etc/flavour")


@root_hook(order=50)
def write_flavour(ctx: BuildContext) -> None:
    """Write /etc/flavour."""
    (ctx.target_root / "etc/flavour").write_text(ctx.settings(ApiSettings).flavour + "\\n")


@finalise_hook(order=99)
def fake_dpkg_manifest(ctx: BuildContext) -> None:
    """Record two packages as the dpkg element would."""
    where = ctx.target_root / "etc/dib-manifests"
    where.mkdir(parents=True, exist_ok=True)
    name = "dib-manifest-dpkg-" + ctx.image_name.rsplit("/", 1)[-1]
    packages = [
        {"package": "busybox", "arch": "amd64", "version": "1:1.35", "status": "installed"},
        {"package": "hello", "arch": "amd64", "version": "2.10", "status": "installed"},
    ]
    (where / name).write_text(json.dumps({"packages": packages}))
'''

FAILING = '''
"""Fails in its install hook."""
from dibpy import BuildContext, install_hook

DEPENDS = ["tiny-busybox"]


@install_hook(order=30)
def explode(ctx: BuildContext) -> None:
    """Fail on purpose."""
    raise RuntimeError("exploded on purpose")
'''


@pytest.fixture
def elements(tmp_path: Path) -> Path:
    directory = tmp_path / "elements"
    make_element(directory, "api-custom", CUSTOM)
    make_element(directory, "api-failing", FAILING)
    return directory


def run_build(tmp_path: Path, elements: Path, name: str, **env: str) -> tuple[Any, list[Any]]:
    received: list[events.Event] = []
    (tmp_path / "out").mkdir(exist_ok=True)
    result = dibpy.build(
        ["api-custom"],
        output=tmp_path / "out" / name,
        formats=["tar"],
        element_paths=[EXAMPLES, elements],
        skip_base=True,
        env=clean_env(tmp_path, **env),
        on_event=received.append,
        command=["my-tool", "--flavour"],
    )
    return result, received


# --- plan: pure ---------------------------------------------------------------------------


def test_plan_is_what_plan_json_prints(elements: Path, tmp_path: Path) -> None:
    plan = dibpy.plan(
        ["api-custom"], element_paths=[EXAMPLES, elements], skip_base=True, env=clean_env(tmp_path)
    )
    assert isinstance(plan, dibpy.Plan)
    assert plan.elements == ("api-custom", "tiny-busybox")
    data = plan.to_dict()
    assert [h["hook"] for h in data["phases"]["root"]] == ["create_tree", "write_flavour"]
    assert [h["hook"] for h in data["phases"]["finalise"]] == ["write_motd", "fake_dpkg_manifest"]


def test_plan_reads_elements_path_from_env_not_os_environ(elements: Path, tmp_path: Path) -> None:
    env = clean_env(tmp_path, ELEMENTS_PATH=f"{EXAMPLES}:{elements}")
    assert dibpy.plan(["api-custom"], skip_base=True, env=env).elements[0] == "api-custom"
    with pytest.raises(dibpy.ElementNotFoundError):
        dibpy.plan(["api-custom"], skip_base=True, env=clean_env(tmp_path))


def test_plan_errors_are_input_errors_with_exit_code_2(elements: Path, tmp_path: Path) -> None:
    with pytest.raises(dibpy.DibError) as caught:
        dibpy.plan(["api-custm"], element_paths=[EXAMPLES, elements], env=clean_env(tmp_path))
    assert isinstance(caught.value, dibpy.InputError)
    assert caught.value.exit_code == 2
    assert "api-custom" in str(caught.value)  # the close match is suggested
    assert isinstance(caught.value, dibpy.ElementNotFoundError)
    assert caught.value.element == "api-custm"
    assert (caught.value.phase, caught.value.hook) == (None, None)


def test_a_broken_element_is_an_element_load_error_naming_it(
    elements: Path, tmp_path: Path
) -> None:
    make_element(elements, "api-broken", "DEPENDS = 'not-a-list'\n")
    with pytest.raises(dibpy.ElementLoadError) as caught:
        dibpy.plan(["api-broken"], element_paths=[EXAMPLES, elements], env=clean_env(tmp_path))
    assert caught.value.element == "api-broken"
    assert caught.value.exit_code == 2


# --- a real build -------------------------------------------------------------------------


@pytest.fixture
def built(tmp_path: Path, elements: Path) -> tuple[Any, list[Any], Path]:
    if not IS_ROOT or not BUSYBOX.is_file():
        pytest.skip("needs root and a static busybox")
    result, received = run_build(
        tmp_path,
        elements,
        "custom",
        API_FLAVOUR="chocolate",
        http_proxy="http://builder:hunter2@proxy.example:3128",
        DIB_DEV_USER_PASSWORD="swordfish",
        DIB_RELEASE="bookworm",
    )
    return result, received, tmp_path


@pytest.mark.root
def test_build_result_has_outputs_checksums_and_manifest(
    built: tuple[Any, list[Any], Path],
) -> None:
    result, _, tmp_path = built
    tar_path = tmp_path / "out" / "custom.tar"
    assert isinstance(result, dibpy.BuildResult)
    assert result.outputs == [tar_path]
    assert result.checksums == {tar_path: hashlib.sha256(tar_path.read_bytes()).hexdigest()}
    assert result.manifest_path == tmp_path / "out" / "custom.manifest.json"
    assert json.loads(result.manifest_path.read_text()) == result.manifest
    assert result.build_dir is None
    with tarfile.open(tar_path) as tar:
        stream = tar.extractfile("./etc/flavour")
        assert stream is not None and stream.read() == b"chocolate\n"
    assert build_dirs(tmp_path / "tmp") == []
    assert mount_lines(tmp_path) == []


@pytest.mark.root
def test_manifest_contents(built: tuple[Any, list[Any], Path]) -> None:
    result, _, tmp_path = built
    manifest = result.manifest
    tar_path = tmp_path / "out" / "custom.tar"
    assert manifest["schema"] == 1
    assert manifest["dibpy_version"] == dibpy.__version__
    assert manifest["command"] == ["my-tool", "--flavour"]
    assert manifest["formats"] == ["tar"]
    assert [(e["name"], e["origin"]) for e in manifest["elements"]] == [
        ("api-custom", "path"),
        ("tiny-busybox", "path"),
    ]
    assert manifest["elements"][1]["location"] == str(EXAMPLES / "tiny-busybox.py")
    hooks = [(h["phase"], h["element"], h["hook"]) for h in manifest["hooks"]]
    assert hooks == [
        ("root", "tiny-busybox", "create_tree"),
        ("root", "api-custom", "write_flavour"),
        ("install", "tiny-busybox", "install_applets"),
        ("finalise", "tiny-busybox", "write_motd"),
        ("finalise", "api-custom", "fake_dpkg_manifest"),
    ]
    assert all(isinstance(h["seconds"], float) and h["seconds"] >= 0 for h in manifest["hooks"])
    settings = manifest["settings"]
    assert settings["DIB_RELEASE"] == "bookworm"
    assert settings["http_proxy"] == "http://builder:***@proxy.example:3128"
    assert settings["DIB_DEV_USER_PASSWORD"] == "***"
    assert "hunter2" not in json.dumps(manifest) and "swordfish" not in json.dumps(manifest)
    assert "API_FLAVOUR" not in settings  # an element's own variable, not a DIB_* one
    assert [p["package"] for p in manifest["packages"]] == ["busybox", "hello"]
    assert manifest["packages"][1]["version"] == "2.10"
    assert manifest["outputs"] == [
        {
            "path": str(tar_path),
            "format": "tar",
            "size": tar_path.stat().st_size,
            "sha256": hashlib.sha256(tar_path.read_bytes()).hexdigest(),
        }
    ]


@pytest.mark.root
def test_events_arrive_in_order(built: tuple[Any, list[Any], Path], elements: Path) -> None:
    result, received, tmp_path = built
    plan = dibpy.plan(
        ["api-custom"], element_paths=[EXAMPLES, elements], skip_base=True, env=clean_env(tmp_path)
    )
    expected: list[tuple[str, ...]] = [("BuildStarted",)]
    for phase in PHASES:
        if plan.phases[phase]:
            expected.append(("PhaseStarted", phase.value))
            for hook in plan.phases[phase]:
                expected.append(("HookStarted", phase.value, hook.element, hook.name))
                expected.append(("HookFinished", phase.value, hook.element, hook.name))
            expected.append(("PhaseFinished", phase.value))
    expected += [("OutputWritten", "tar"), ("BuildFinished",)]

    def shape(event: events.Event) -> tuple[str, ...]:
        name = type(event).__name__
        if isinstance(event, (events.PhaseStarted, events.PhaseFinished)):
            return (name, event.phase.value)
        if isinstance(event, (events.HookStarted, events.HookFinished)):
            return (name, event.phase.value, event.element, event.hook)
        if isinstance(event, events.OutputWritten):
            return (name, event.format)
        return (name,)

    assert [shape(e) for e in received if not isinstance(e, events.LogLine)] == expected
    times = [e.at for e in received]
    assert times == sorted(times)
    finished = [e for e in received if isinstance(e, events.HookFinished)]
    assert [round(e.seconds, 3) for e in finished] == [
        h["seconds"] for h in result.manifest["hooks"]
    ]
    written = next(e for e in received if isinstance(e, events.OutputWritten))
    assert written.sha256 == result.checksums[written.path]
    done = received[-1]
    assert isinstance(done, events.BuildFinished)
    assert done.outputs == tuple(result.outputs) and done.manifest == result.manifest_path
    # The log lines come too: the chroot command of tiny-busybox's install hook, in its hook.
    started = received.index(
        next(
            e for e in received if isinstance(e, events.HookStarted) and e.hook == "install_applets"
        )
    )
    lines = [e for e in received[started:] if isinstance(e, events.LogLine)]
    assert any("/bin/busybox --install -s /bin" in line.message for line in lines)


@pytest.mark.root
@pytest.mark.skipif(not IS_ROOT or not BUSYBOX.is_file(), reason="needs root and busybox")
def test_two_builds_with_different_env_in_one_process(tmp_path: Path, elements: Path) -> None:
    first, _ = run_build(tmp_path, elements, "one", API_FLAVOUR="lemon")
    second, _ = run_build(tmp_path, elements, "two")
    flavours = []
    for result in (first, second):
        with tarfile.open(result.outputs[0]) as tar:
            stream = tar.extractfile("./etc/flavour")
            assert stream is not None
            flavours.append(stream.read())
    assert flavours == [b"lemon\n", b"vanilla\n"]


# --- errors -------------------------------------------------------------------------------


@pytest.mark.root
@pytest.mark.skipif(not IS_ROOT or not BUSYBOX.is_file(), reason="needs root and busybox")
def test_a_failing_hook_is_a_hook_error_with_its_fields(tmp_path: Path, elements: Path) -> None:
    received: list[events.Event] = []
    with pytest.raises(dibpy.DibError) as caught:
        dibpy.build(
            ["api-failing"],
            output=tmp_path / "failed",
            formats=["tar"],
            element_paths=[EXAMPLES, elements],
            skip_base=True,
            env=clean_env(tmp_path),
            on_event=received.append,
        )
    error = caught.value
    assert isinstance(error, dibpy.HookError) and isinstance(error, dibpy.BuildError)
    assert (error.phase, error.element, error.hook) == ("install", "api-failing", "explode")
    assert error.exit_code == 1
    assert isinstance(error.cause, RuntimeError)
    assert "exploded on purpose" in str(error)
    kinds = [type(e).__name__ for e in received if not isinstance(e, events.LogLine)]
    assert kinds[-1] == "HookStarted" and "BuildFinished" not in kinds
    assert not (tmp_path / "failed.tar").exists()
    assert not (tmp_path / "failed.manifest.json").exists()
    assert build_dirs(tmp_path / "tmp") == []
    assert mount_lines(tmp_path) == []


def test_a_bad_setting_is_a_settings_error_naming_the_element(
    tmp_path: Path, elements: Path
) -> None:
    with pytest.raises(dibpy.SettingsError) as caught:
        dibpy.build(
            ["api-custom"],
            output=tmp_path / "bad",
            formats=["tar"],
            element_paths=[EXAMPLES, elements],
            skip_base=True,
            env=clean_env(tmp_path, TINY_UID="not-a-number"),
        )
    assert caught.value.element == "tiny-busybox"
    assert caught.value.exit_code == 2
    assert "TINY_UID" in str(caught.value)
    assert not (tmp_path / "bad.tar").exists()


def test_an_unknown_format_is_an_input_error(tmp_path: Path, elements: Path) -> None:
    with pytest.raises(dibpy.InputError, match="floppy"):
        dibpy.build(
            ["api-custom"],
            output=tmp_path / "x",
            formats=["floppy"],
            element_paths=[EXAMPLES, elements],
            skip_base=True,
            env=clean_env(tmp_path),
        )


def test_every_error_class_exported_is_a_dib_error() -> None:
    exported = [getattr(dibpy, name) for name in dibpy.__all__]
    errors = [e for e in exported if isinstance(e, type) and issubclass(e, Exception)]
    assert len(errors) >= 10
    assert all(issubclass(e, dibpy.DibError) for e in errors)


# --- download progress --------------------------------------------------------------------

FETCHING = '''
"""Downloads a file in its root hook."""
from dibpy import BuildContext, ElementSettings, root_hook, setting

DEPENDS = ["tiny-busybox"]


class FetchSettings(ElementSettings):
    url: str = setting("FETCH_URL")


@root_hook(order=20)
def fetch_blob(ctx: BuildContext) -> None:
    """Fetch FETCH_URL into the cache."""
    ctx.fetcher.fetch(ctx.settings(FetchSettings).url, ctx.image_cache / "blob.bin")
'''


@pytest.mark.root
@pytest.mark.skipif(not IS_ROOT or not BUSYBOX.is_file(), reason="needs root and busybox")
def test_download_progress_events(tmp_path: Path, elements: Path, httpserver: Any) -> None:
    blob = bytes(range(256)) * (3 * 4096 + 7)  # about 3 MiB: several chunks
    httpserver.expect_request("/files/blob.bin").respond_with_data(blob)
    url = httpserver.url_for("/files/blob.bin").replace("//", "//fetcher:s3cret@", 1)
    make_element(elements, "api-fetching", FETCHING)
    received: list[events.Event] = []
    dibpy.build(
        ["api-fetching"],
        output=tmp_path / "fetched",
        formats=["tar"],
        element_paths=[EXAMPLES, elements],
        skip_base=True,
        env=clean_env(tmp_path, FETCH_URL=url, no_proxy="127.0.0.1,localhost"),
        on_event=received.append,
    )
    assert (tmp_path / "cache" / "blob.bin").read_bytes() == blob
    started = next(i for i, e in enumerate(received) if getattr(e, "hook", "") == "fetch_blob")
    finished = next(
        i
        for i, e in enumerate(received)
        if isinstance(e, events.HookFinished) and e.hook == "fetch_blob"
    )
    progress = [e for e in received if isinstance(e, events.DownloadProgress)]
    assert len(progress) >= 3
    assert all(started < received.index(e) < finished for e in progress)
    assert all(e.total == len(blob) for e in progress)
    done = [e.done for e in progress]
    assert done == sorted(done) and done[-1] == len(blob)
    assert {e.url for e in progress} == {url.replace("s3cret", "***")}


class StopHere(Exception):
    pass


@pytest.mark.root
@pytest.mark.skipif(not IS_ROOT or not BUSYBOX.is_file(), reason="needs root and busybox")
def test_an_exception_in_on_event_stops_the_build_and_releases_everything(
    tmp_path: Path, elements: Path
) -> None:
    def stop_in_install(event: events.Event) -> None:
        if isinstance(event, events.HookStarted) and event.phase.value == "install":
            time.sleep(2)  # a busy caller: the build waits for it, it does not race ahead
            raise StopHere

    with pytest.raises(StopHere):
        dibpy.build(
            ["api-custom"],
            output=tmp_path / "stopped",
            formats=["tar"],
            element_paths=[EXAMPLES, elements],
            skip_base=True,
            env=clean_env(tmp_path),
            on_event=stop_in_install,
        )
    assert not (tmp_path / "stopped.tar").exists()
    assert build_dirs(tmp_path / "tmp") == []
    assert mount_lines(tmp_path) == []
