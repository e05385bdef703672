"""Legacy (DIB folder) elements: loading, resolution beside Python elements, planning, and
real builds of their scripts on the host and in a chroot.

The builds use ``tests/elements/bash-root``, an operating system copied from the host's bash
in a second, so every phase's scripts run for real (mounts, chroot, the driver) without a
debootstrap. Each build runs as a user runs it: ``python -m dibpy build -n -t tar ...``.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import tarfile
import textwrap
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import build_dirs, clean_env, make_element, processes_under, run_dibpy
from root_helpers import needs_root

from dibpy.elements import ElementIndex, resolve
from dibpy.elements.folder import script_order
from dibpy.errors import ElementLoadError, ResolutionError
from dibpy.legacy.hooktree import assemble
from dibpy.phases import Phase
from dibpy.planning.plan import Plan

TEST_ELEMENTS = Path(__file__).parent / "elements"
HOST_PHASES = ("root", "extra-data", "post-root", "pre-finalise", "cleanup")
CHROOT_PHASES = ("pre-install", "install", "post-install", "finalise")


def write_legacy(directory: Path, name: str, files: Mapping[str, str]) -> Path:
    """A legacy element folder; files under a ``*.d/`` folder are made executable unless
    their name ends in ``.noexec``."""
    folder = directory / name
    folder.mkdir(parents=True, exist_ok=True)
    for relative, text in files.items():
        executable = not relative.endswith(".noexec") and ".d/" in relative
        path = folder / relative.removesuffix(".noexec")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        if executable and "environment.d" not in relative:
            path.chmod(0o755)
    return folder


def index(*directories: Path) -> ElementIndex:
    return ElementIndex.discover(list(directories), "", use_entry_points=False, use_dib=False)


SCRIPT = "#!/bin/bash\nset -eu\necho {name}\n"


# --- loading ---------------------------------------------------------------------------


def test_script_order_is_sort_n() -> None:
    assert [script_order(n) for n in ("50-a", "010-y", "1-x", "foo", "100-big")] == [
        50,
        10,
        1,
        0,
        100,
    ]


def test_a_folder_element_becomes_an_element_with_dib_metadata(tmp_path: Path) -> None:
    write_legacy(
        tmp_path,
        "legacy-one",
        {
            "README.rst": "==========\nlegacy-one\n==========\nDoes one thing.\n",
            "element-deps": "dep-a\n\n  dep-b  \n",
            "element-provides": "thing\n",
            "package-installs.yaml": "curl:\nvim:\n  phase: pre-install.d\n",
            "pkg-map": json.dumps({"family": {"debian": {"vim": "vim-nox"}}}),
            "install.d/50-one": SCRIPT.format(name="one"),
            "install.d/10-first": SCRIPT.format(name="first"),
            "install.d/60-skipped.sh": SCRIPT.format(name="skipped"),
            "install.d/70-not-executable.noexec": SCRIPT.format(name="no"),
            "install.d/legacy-source-install/20-from-source": SCRIPT.format(name="src"),
            "root.d/05-root": SCRIPT.format(name="root"),
            "cleanup.d/nonumber": SCRIPT.format(name="cleanup"),
        },
    )
    element = index(tmp_path).get("legacy-one")
    assert element.kind == "legacy"
    assert element.summary == "Does one thing."
    assert element.depends == ("dep-a", "dep-b")
    assert element.provides == ("thing",)
    assert element.module is not None
    assert element.module.PACKAGES == {"curl": None, "vim": {"phase": "pre-install.d"}}
    assert element.module.PKG_MAP == {"family": {"debian": {"vim": "vim-nox"}}}
    hooks = [(h.phase.value, h.order, h.name) for h in element.hooks]
    assert hooks == [
        ("root", 5, "05-root"),
        ("install", 10, "10-first"),
        ("install", 20, "20-from-source"),
        ("install", 50, "50-one"),
        ("cleanup", 0, "nonumber"),
    ]
    assert all(h.kind == "legacy" for h in element.hooks)


def test_a_broken_package_installs_file_is_a_clear_error(tmp_path: Path) -> None:
    write_legacy(tmp_path, "broken", {"package-installs.yaml": "curl: [unclosed\n"})
    with pytest.raises(ElementLoadError, match=r"broken.*package-installs.yaml.*syntax"):
        index(tmp_path).get("broken")


def test_python_and_legacy_elements_depend_on_each_other(tmp_path: Path) -> None:
    make_element(tmp_path, "py-os", 'PROVIDES = ["operating-system"]\nDEPENDS = ["legacy-a"]\n')
    write_legacy(tmp_path, "legacy-a", {"element-deps": "py-b\n"})
    make_element(tmp_path, "py-b", "")
    chosen = resolve(["py-os"], index(tmp_path))
    assert chosen.names == ("py-os", "legacy-a", "py-b")


def test_a_legacy_provider_satisfies_a_python_dependency(tmp_path: Path) -> None:
    make_element(tmp_path, "py-os", 'PROVIDES = ["operating-system"]\nDEPENDS = ["virtual"]\n')
    write_legacy(tmp_path, "legacy-provider", {"element-provides": "virtual\n"})
    chosen = resolve(["py-os", "legacy-provider"], index(tmp_path))
    assert chosen.provided["virtual"] == "legacy-provider"


def test_an_earlier_path_overrides_a_later_one_across_kinds(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    write_legacy(first, "same", {"install.d/50-same": SCRIPT.format(name="legacy")})
    make_element(second, "same", '"""The Python one."""\n')
    assert index(first, second).get("same").kind == "legacy"
    assert index(second, first).get("same").kind == "python"


def test_dibpy_python_elements_win_over_dib_folders() -> None:
    pytest.importorskip("diskimage_builder")
    found = ElementIndex.discover([], "", use_entry_points=False)
    assert found.get("dpkg").kind == "python"
    assert found.get("devuser").kind == "python"  # ported: the built-in wins
    unported = found.get("ibft-interfaces")
    assert unported.kind == "legacy"
    assert unported.origin.kind == "diskimage-builder"


def test_legacy_hooks_interleave_with_python_hooks_by_number(tmp_path: Path) -> None:
    make_element(
        tmp_path,
        "py-os",
        """
        from dibpy import install_hook
        PROVIDES = ["operating-system"]
        DEPENDS = ["legacy-a"]
        @install_hook(order=40)
        def forty(ctx): ...
        @install_hook(order=60)
        def sixty(ctx): ...
        """,
    )
    write_legacy(tmp_path, "legacy-a", {"install.d/50-fifty": SCRIPT.format(name="50")})
    plan = Plan.of(resolve(["py-os"], index(tmp_path)))
    assert [(h.name, h.kind) for h in plan.phases[Phase.INSTALL]] == [
        ("forty", "python"),
        ("50-fifty", "legacy"),
        ("sixty", "python"),
    ]
    assert "50-fifty [legacy]" in plan.describe()


def test_the_same_script_name_in_two_elements_is_refused(tmp_path: Path) -> None:
    make_element(tmp_path, "py-os", 'PROVIDES = ["operating-system"]\n')
    write_legacy(tmp_path, "one", {"install.d/50-same": SCRIPT.format(name="1")})
    write_legacy(tmp_path, "two", {"install.d/50-same": SCRIPT.format(name="2")})
    with pytest.raises(ResolutionError, match=r"duplicated hook.*install.d/50-same.*'one'.*'two'"):
        Plan.of(resolve(["py-os", "one", "two"], index(tmp_path)))


# --- real builds -----------------------------------------------------------------------

RECORD = """
#!/bin/bash
set -eu
out={out}/{phase}
mkdir -p "$out"
env -0 > "$out/env"
echo "$0" > "$out/argv0"
if [ -d /tmp/in_target.d ] && [ "{phase}" != root ]; then
    touch /tmp/in_target.d/probe 2> "$out/probe-error" || echo refused > "$out/readonly"
fi
"""


def contract_element(directory: Path) -> None:
    """Records, in every phase, its environment and what it can see."""
    files = {
        "element-deps": "legacy-dep\n",
        "environment.d/10-contract": """
            export CONTRACT_EXPORTED=${CONTRACT_EXPORTED:-from-env-d}
            CONTRACT_NOT_EXPORTED=hidden
            export CONTRACT_TEMP=$(mktemp -u)
        """,
        "bin/contract-tool": "#!/bin/sh\necho tool\n",
        "static/etc/contract/static-file": "static\n",
    }
    for phase in HOST_PHASES:
        files[f"{phase}.d/50-record-{phase}"] = RECORD.format(
            phase=phase, out="$TMP_MOUNT_PATH/recorded"
        )
        files[f"{phase}.d/51-again-{phase}"] = (
            f"#!/bin/bash\necho $CONTRACT_TEMP > $TMP_MOUNT_PATH/recorded/{phase}/again\n"
        )
    for phase in CHROOT_PHASES:
        files[f"{phase}.d/50-record-{phase}"] = RECORD.format(phase=phase, out="/recorded")
        files[f"{phase}.d/51-again-{phase}"] = (
            f"#!/bin/bash\necho $CONTRACT_TEMP > /recorded/{phase}/again\n"
        )
    files["install.d/60-skipped.sh"] = "#!/bin/bash\nexit 1\n"
    write_legacy(directory, "contract", files)
    write_legacy(directory, "legacy-dep", {"README.rst": "A dependency.\n"})


@dataclass
class Built:
    result: object
    tar: Path
    base: Path

    def env(self, phase: str) -> dict[str, str]:
        text = self.read(f"recorded/{phase}/env").decode()
        return dict(item.split("=", 1) for item in text.split("\0") if "=" in item)

    def read(self, name: str) -> bytes:
        with tarfile.open(self.tar) as tar:
            member = tar.extractfile(f"./{name}")
            assert member is not None, name
            return member.read()

    def names(self) -> set[str]:
        with tarfile.open(self.tar) as tar:
            return {m.name for m in tar.getmembers()}


def build(base: Path, *elements: str, extra: Mapping[str, str] | None = None) -> tuple:
    env = clean_env(base, DIB_NO_TMPFS="1", **(extra or {}))
    paths = ["--element-path", str(base / "elements"), "--element-path", str(TEST_ELEMENTS)]
    args = ["build", "-n", "-t", "tar", "-o", str(base / "out"), *paths, "bash-root", *elements]
    result = run_dibpy(args, env, base)
    return result, base / "out.tar"


@pytest.fixture(scope="module")
def contract_build(tmp_path_factory: pytest.TempPathFactory) -> Built:
    base = tmp_path_factory.mktemp("legacy-contract")
    contract_element(base / "elements")
    result, tar = build(base, "contract", extra={"CONTRACT_USER": "from-user"})
    assert result.returncode == 0, result.stderr[-3000:]
    return Built(result, tar, base)


pytestmark_root = [pytest.mark.root, needs_root]


@pytest.mark.root
@needs_root
@pytest.mark.parametrize("phase", HOST_PHASES + CHROOT_PHASES)
def test_every_phase_runs_with_dibs_variables(contract_build: Built, phase: str) -> None:
    env = contract_build.env(phase)
    assert env["CONTRACT_EXPORTED"] == "from-env-d"
    assert "CONTRACT_NOT_EXPORTED" not in env
    assert env["CONTRACT_USER"] == "from-user"
    assert env["IMAGE_NAME"].endswith("out")
    assert env["ARCH"] == "amd64" or env["ARCH"]
    assert set(env["IMAGE_ELEMENT"].split()) == {"bash-root", "contract", "legacy-dep"}
    assert "contract:" in env["IMAGE_ELEMENT_YAML"]
    assert env["DISTRO_NAME"] == "debian"
    assert env["DIB_RELEASE"] == "bookworm"
    assert env["DIB_INIT_SYSTEM"] == "systemd"
    for name in ("TMP_MOUNT_PATH", "TMP_HOOKS_PATH", "TMP_BUILD_DIR", "ELEMENTS_PATH", "_LIB"):
        assert env[name], name
    assert ("TARGET_ROOT" in env) == (phase in ("root", "cleanup"))
    assert ("DIB_DEFAULT_INSTALLTYPE" in env) == (phase != "root")


@pytest.mark.root
@needs_root
@pytest.mark.parametrize("phase", CHROOT_PHASES)
def test_chroot_phases_see_the_hooks_tree_read_only(contract_build: Built, phase: str) -> None:
    argv0 = contract_build.read(f"recorded/{phase}/argv0").decode().strip()
    assert argv0 == f"/tmp/in_target.d/{phase}.d/50-record-{phase}"
    assert contract_build.read(f"recorded/{phase}/readonly").strip() == b"refused"
    env = contract_build.env(phase)
    assert env["HOME"] == "/root"
    assert env["PATH"].startswith("/usr/local/sbin:/usr/local/bin")


@pytest.mark.root
@needs_root
@pytest.mark.parametrize("phase", HOST_PHASES)
def test_host_phases_run_from_the_merged_hooks_tree(contract_build: Built, phase: str) -> None:
    env = contract_build.env(phase)
    argv0 = contract_build.read(f"recorded/{phase}/argv0").decode().strip()
    assert argv0 == f"{env['TMP_HOOKS_PATH']}/{phase}.d/50-record-{phase}"


@pytest.mark.root
@needs_root
@pytest.mark.parametrize("phase", HOST_PHASES + CHROOT_PHASES)
def test_environment_d_is_sourced_once_per_phase(contract_build: Built, phase: str) -> None:
    again = contract_build.read(f"recorded/{phase}/again").decode().strip()
    assert again == contract_build.env(phase)["CONTRACT_TEMP"]


@pytest.mark.root
@needs_root
def test_the_build_left_nothing_behind(contract_build: Built) -> None:
    names = contract_build.names()
    assert "./tmp/in_target.d" not in names
    assert not build_dirs(contract_build.base / "tmp")
    assert not processes_under(contract_build.base)
    mounts = Path("/proc/self/mountinfo").read_text()
    assert str(contract_build.base) not in mounts


@pytest.mark.root
@needs_root
def test_environment_d_exports_reach_python_hooks(tmp_path: Path) -> None:
    make_element(
        tmp_path / "elements",
        "py-reader",
        """
        from dibpy import BuildContext, post_root_hook
        @post_root_hook(order=50)
        def record(ctx: BuildContext) -> None:
            value = ctx.env.get("LEGACY_CHOICE", "missing")
            (ctx.target_root / "python-saw").write_text(value)
        """,
    )
    write_legacy(
        tmp_path / "elements", "chooser", {"environment.d/10-choice": "export LEGACY_CHOICE=b\n"}
    )
    result, tar = build(tmp_path, "chooser", "py-reader", extra={"LEGACY_CHOICE": "a"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert Built(result, tar, tmp_path).read("python-saw") == b"b"
    assert not list((tmp_path / "tmp").glob("dibpy_env.*"))


@pytest.mark.root
@needs_root
def test_host_scripts_may_call_sudo_as_dib_scripts_do(tmp_path: Path) -> None:
    write_legacy(
        tmp_path / "elements",
        "sudoer",
        {"root.d/50-sudo": "#!/bin/bash\nset -eu\nsudo -E -- touch $TARGET_ROOT/made-by-sudo\n"},
    )
    result, tar = build(tmp_path, "sudoer")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "./made-by-sudo" in Built(result, tar, tmp_path).names()


# --- failures --------------------------------------------------------------------------

FAILING = "#!/bin/bash\necho 'first line of the failure'\necho 'the reason it failed' >&2\nexit 3\n"
FAIL_PHASES = ("root", "extra-data", "pre-install", "install", "post-install", "post-root",
               "pre-finalise", "finalise", "cleanup")  # fmt: skip


@pytest.mark.root
@needs_root
@pytest.mark.parametrize("phase", FAIL_PHASES)
def test_a_failing_script_names_it_and_leaves_nothing(tmp_path: Path, phase: str) -> None:
    write_legacy(tmp_path / "elements", "failing", {f"{phase}.d/42-fails": FAILING})
    result, tar = build(tmp_path, "failing")
    assert result.returncode == 1
    error = result.stderr
    assert "Traceback" not in error
    assert f"The {phase} phase failed in hook '42-fails' of element 'failing'" in error
    assert f"{phase}.d/42-fails" in error
    assert "exited with status 3" in error
    assert "the reason it failed" in error
    assert not tar.exists()
    assert not list(tmp_path.glob("*.partial")) and not list(tmp_path.glob(".*.partial"))
    assert not build_dirs(tmp_path / "tmp")
    assert not processes_under(tmp_path)
    assert str(tmp_path) not in Path("/proc/self/mountinfo").read_text()


@pytest.mark.root
@needs_root
def test_an_environment_file_that_exits_is_bad_input(tmp_path: Path) -> None:
    write_legacy(
        tmp_path / "elements",
        "bad-env",
        {
            "environment.d/10-bad": 'echo "BAD_SETTING is not set" >&2\nexit 1\n',
            "install.d/50-never": "#!/bin/bash\ntouch /never\n",
        },
    )
    result, tar = build(tmp_path, "bad-env")
    assert result.returncode == 2  # bad input, found before anything is made
    assert "environment.d" in result.stderr and "BAD_SETTING is not set" in result.stderr
    assert "Traceback" not in result.stderr
    assert not tar.exists() and not build_dirs(tmp_path / "tmp")


@pytest.mark.root
@needs_root
def test_an_unset_variable_in_environment_d_fails(tmp_path: Path) -> None:
    write_legacy(
        tmp_path / "elements",
        "unset-env",
        {
            "environment.d/10-unset": "export X=$SURELY_NOT_SET_ANYWHERE\n",
            "root.d/50-never": "#!/bin/bash\ntrue\n",
        },
    )
    result, _ = build(tmp_path, "unset-env")
    assert result.returncode == 2
    assert "SURELY_NOT_SET_ANYWHERE" in result.stderr


def test_a_block_device_script_is_refused_before_anything_is_made(tmp_path: Path) -> None:
    write_legacy(
        tmp_path / "elements",
        "old-disk",
        {"block-device.d/10-loop": "#!/bin/bash\necho IMAGE_BLOCK_DEVICE=/dev/loop0\n"},
    )
    result, tar = build(tmp_path, "old-disk")
    assert result.returncode == 2
    assert "'old-disk' has the legacy hook block-device.d/10-loop" in result.stderr
    assert "Traceback" not in result.stderr
    assert not tar.exists() and not build_dirs(tmp_path / "tmp")


@pytest.mark.root
@needs_root
def test_debug_trace_traces_the_environment_files(tmp_path: Path) -> None:
    write_legacy(
        tmp_path / "elements",
        "traced",
        {
            "environment.d/10-traced": "export TRACED_VALUE=visible-in-trace\n",
            "root.d/50-run": "#!/bin/bash\ntrue\n",
        },
    )
    result, _ = build(tmp_path, "traced", extra={"DIB_DEBUG_TRACE": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "+ export TRACED_VALUE=visible-in-trace" in result.stdout + result.stderr


def test_the_driver_is_executable_in_the_wheel_sources() -> None:
    driver = Path(__file__).parent.parent / "dibpy" / "legacy" / "dibpy-run-hook"
    assert driver.stat().st_mode & stat.S_IXUSR
    assert os.access(driver, os.X_OK)


def test_the_hooks_tree_merges_folders_and_top_level_data_files(tmp_path: Path) -> None:
    make_element(tmp_path / "elements", "py-os", 'PROVIDES = ["operating-system"]\n')
    package = make_element(tmp_path / "elements", "ported", '"""A port."""\n', package=True)
    (package.parent / "source-repository-ported").write_text("x git /opt/x file:///x\n")
    (package.parent / "static/etc").mkdir(parents=True)
    (package.parent / "static/etc/ported.conf").write_text("p\n")
    write_legacy(
        tmp_path / "elements",
        "legacy-a",
        {"static/etc/legacy.conf": "l\n", "install.d/50-a": "#!/bin/sh\n", "README.rst": "A\n"},
    )
    chosen = resolve(["py-os", "ported", "legacy-a"], index(tmp_path / "elements"))
    hooks = tmp_path / "hooks"
    assemble(chosen.elements, hooks)
    assert (hooks / "source-repository-ported").is_file()
    assert not (hooks / "__init__.py").exists()
    assert (hooks / "static/etc/ported.conf").read_text() == "p\n"
    assert (hooks / "static/etc/legacy.conf").read_text() == "l\n"
    assert os.access(hooks / "install.d/50-a", os.X_OK)
    assert os.access(hooks / "dibpy-run-hook", os.X_OK)
    assert os.access(hooks / "bin/install-packages", os.X_OK)  # a legacy element is in


@pytest.mark.root
@needs_root
@pytest.mark.parametrize(("chosen", "other"), [("source", "package"), ("package", "source")])
def test_install_types_choose_which_variant_runs(tmp_path: Path, chosen: str, other: str) -> None:
    write_legacy(
        tmp_path / "elements",
        "nova-ish",
        {
            f"install.d/nova-ish-{kind}-install/20-nova": (
                f"#!/bin/bash\nset -eu\necho {kind} > /ran-$(basename $(dirname $0))\n"
            )
            for kind in ("source", "package")
        },
    )
    extra = {"DIB_INSTALLTYPE_nova_ish": chosen} if chosen != "source" else {}
    result, tar = build(tmp_path, "install-types", "nova-ish", extra=extra)
    assert result.returncode == 0, result.stderr[-2000:]
    built = Built(result, tar, tmp_path)
    # run through the link in install.d, so $(dirname $0) is install.d as under DIB
    assert built.read("ran-install.d") == f"{chosen}\n".encode()
    assert f"Skipping 20-nova of nova-ish: install type {other!r}" in result.stderr


@pytest.mark.root
@needs_root
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("phase", ["root", "install"])
def test_a_signal_while_a_script_runs_leaves_nothing(
    tmp_path: Path, signum: signal.Signals, phase: str
) -> None:
    where = "$TARGET_ROOT" if phase == "root" else ""
    write_legacy(
        tmp_path / "elements",
        "sleeper",
        {f"{phase}.d/50-sleep": f"#!/bin/bash\ntouch {where}/started\nexec sleep 120\n"},
    )
    env = clean_env(tmp_path, DIB_NO_TMPFS="1")
    paths = ["--element-path", str(tmp_path / "elements"), "--element-path", str(TEST_ELEMENTS)]
    args = ["build", "-n", "-t", "tar", "-o", str(tmp_path / "out"), *paths]
    process = subprocess.Popen(
        [sys.executable, "-m", "dibpy", *args, "bash-root", "sleeper"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a terminal's Ctrl-C reaches the whole process group
    )
    deadline = time.monotonic() + 60
    while not list((tmp_path / "tmp").glob("dibpy_build.*/root/started")):
        assert process.poll() is None and time.monotonic() < deadline, process.stderr
        time.sleep(0.1)
    os.killpg(process.pid, signum)
    _, error = process.communicate(timeout=60)
    assert process.returncode == 130, error[-2000:]
    assert "Interrupted" in error and "'50-sleep'" in error and "Traceback" not in error
    assert not (tmp_path / "out.tar").exists()
    assert not build_dirs(tmp_path / "tmp")
    assert not processes_under(tmp_path)
    assert str(tmp_path) not in Path("/proc/self/mountinfo").read_text()


@pytest.mark.root
@needs_root
def test_no_final_image_writes_only_tree_formats(tmp_path: Path) -> None:
    pytest.importorskip("diskimage_builder")  # DIB's own (empty) no-final-image element
    (tmp_path / "elements").mkdir()
    env = clean_env(tmp_path, DIB_NO_TMPFS="1")
    paths = ["--element-path", str(tmp_path / "elements"), "--element-path", str(TEST_ELEMENTS)]
    args = ["build", "-n", "-t", "tar,raw", "-o", str(tmp_path / "out"), *paths]
    result = run_dibpy([*args, "bash-root", "no-final-image"], env, tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "out.tar").is_file()
    assert not (tmp_path / "out.raw").exists()
    assert "no-final-image is in the build: no raw written" in result.stderr


def test_the_package_installs_helper_reads_dibs_older_lists(tmp_path: Path) -> None:
    helpers = Path(__file__).parent.parent / "dibpy" / "legacy" / "helpers"
    fake = tmp_path / "fake-bin"
    fake.mkdir()
    (fake / "install-packages").write_text('#!/bin/bash\necho "install-packages $*"\n')
    (fake / "pkg-map").write_text(
        '#!/bin/bash\n[ "$2" = mapped-element ] && [ "$3" = generic ] && echo real-name && exit 0\n'
        "exit 1\n"
    )
    for tool in fake.iterdir():
        tool.chmod(0o755)
    lists = tmp_path / "install.d"
    lists.mkdir()
    (lists / "package-installs-mapped-element").write_text("# a comment\n\n generic \n-dropped\n")
    (lists / "package-installs-plain").write_text("tree\n")
    (lists / "50-not-a-list").write_text("ignored\n")
    result = subprocess.run(
        [helpers / "package-installs", "-d", lists],
        env={"PATH": f"{fake}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "install-packages real-name dropped tree"
    bad = subprocess.run([helpers / "package-installs"], capture_output=True, text=True)
    assert bad.returncode == 1 and "Usage: package-installs -d" in bad.stderr
