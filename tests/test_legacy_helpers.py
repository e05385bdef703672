"""The helper programs and shell libraries of legacy elements, run for real with bash.

``install-packages``, ``pkg-map``, ``svc-map`` and ``cache-url`` (dibpy/legacy/helpers) run
against flat map data written by dibpy.legacy.maps in tmp_path; apt-get is a fake first on
PATH that records its argv; cache-url talks to a real HTTP server on 127.0.0.1;
``select_boot_kernel_initrd`` (dibpy/legacy/lib/img-functions) looks at fake /boot layouts.
Where diskimage-builder 3.43 is installed (its venv at /tmp/dibvenv), the results are also
compared with DIB's own pkg-map, svc-map merge and img-functions.
"""

from __future__ import annotations

import email.utils
import importlib.machinery
import importlib.util
import json
import os
import shutil
import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from conftest import REPO
from fetch_helpers import LAST_MODIFIED, Upstream, closed_port
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from dibpy.elements import ElementIndex
from dibpy.elements.index import dib_elements_dir
from dibpy.errors import ElementLoadError, SettingsError
from dibpy.legacy.maps import (
    HELPERS_DIR,
    LIB_DIR,
    install_helpers,
    merge_svc_maps,
    resolve_pkg_map,
    write_pkg_maps,
    write_svc_map,
)
from dibpy.testing import make_context

HELPERS = ("cache-url", "install-packages", "package-installs", "pkg-map", "svc-map")
# DIB 3.43 itself (the test extra installs it): its own pkg-map, svc-map merge and
# img-functions are the oracle some tests compare with.
_DIB_ELEMENTS = dib_elements_dir()
DIB = _DIB_ELEMENTS.parent if _DIB_ELEMENTS is not None else Path("/nonexistent")
needs_dib = pytest.mark.skipif(not DIB.is_dir(), reason="diskimage-builder 3.43 not installed")
APT_OPTIONS = [
    "--option",
    "Dpkg::Options::=--force-confold",
    "--option",
    "Dpkg::Options::=--force-confdef",
    "--assume-yes",
]

# Shaped like real maps: base's iscsi_package, debootstrap's release-only growroot, a name
# mapped to two packages, one left out on the debian family.
BASE_MAP: dict[str, Any] = {
    "default": {"iscsi_package": "open-iscsi", "tools": "tool-a  tool-b", "dropped": "x"},
    "family": {"redhat": {"iscsi_package": "iscsi-initiator-utils"}, "debian": {"dropped": ""}},
    "distro": {"ubuntu": {"tools": "ubuntu-tools"}},
    "release": {"debian": {"bullseye": {"cloud-initramfs-growroot": "cloud-initramfs-growroot"}}},
}


def run(
    program: Path | str, *args: str, env: Mapping[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(program), *args], env=dict(env), cwd=cwd, capture_output=True, text=True, timeout=120
    )


def helper(name: str) -> Path:
    return HELPERS_DIR / name


@pytest.fixture
def hooks(tmp_path: Path) -> Path:
    """A hooks tree with the base map resolved for debian bookworm and a services map."""
    tree = tmp_path / "hooks"
    tree.mkdir()
    write_pkg_maps(tree, {"base": BASE_MAP}, "debian", "bookworm")
    return tree


@pytest.fixture
def fake_bin(tmp_path: Path) -> Path:
    """A directory for fake programs, first on PATH."""
    directory = tmp_path / "fakebin"
    directory.mkdir()
    return directory


def base_env(fake_bin: Path, **extra: str) -> dict[str, str]:
    """A small, predictable environment: fakes first, then the helpers, then the system."""
    return {"PATH": f"{fake_bin}:{HELPERS_DIR}:/usr/bin:/bin", "LC_ALL": "C", **extra}


# --- the shipped files ------------------------------------------------------------------------


def test_helpers_are_executable_bash_without_python() -> None:
    names = sorted(p.name for p in HELPERS_DIR.iterdir())
    assert names == sorted(HELPERS)
    for name in HELPERS:
        path = helper(name)
        assert path.read_text().startswith("#!/bin/bash\n")
        assert os.access(path, os.X_OK), f"{name} is not executable"
        code = [line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")]
        assert not any("python" in line or "perl" in line for line in code), name
    for path in [*(helper(n) for n in HELPERS), LIB_DIR / "die", LIB_DIR / "img-functions"]:
        syntax = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
        assert syntax.returncode == 0, f"{path}: {syntax.stderr}"


def test_git_records_the_helpers_as_executable() -> None:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    listing = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-s", "--", "dibpy/legacy/helpers"],
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    if not listing:
        pytest.skip("helpers not committed yet")
    modes = {line.split("\t")[1].rsplit("/", 1)[1]: line.split()[0] for line in listing}
    assert modes == dict.fromkeys(HELPERS, "100755")


def test_lib_dir_holds_die_and_img_functions() -> None:
    assert (LIB_DIR / "die").is_file()
    assert (LIB_DIR / "img-functions").is_file()


# --- maps.py: pkg-map data --------------------------------------------------------------------


def test_pkg_map_files_hold_each_name_resolved(hooks: Path) -> None:
    assert (hooks / "pkg-map.d" / "base").read_text() == (
        "dropped\t\niscsi_package\topen-iscsi\ntools\ttool-a tool-b\n"
    )
    assert (hooks / "pkg-map.d" / ".resolved-for").read_text() == "debian\tbookworm\n"


@pytest.mark.parametrize(
    ("distro", "release", "expected"),
    [
        ("debian", "bookworm", {"dropped": [], "iscsi_package": ["open-iscsi"]}),
        (
            "debian",
            "bullseye",
            {
                "dropped": [],
                "iscsi_package": ["open-iscsi"],
                "cloud-initramfs-growroot": ["cloud-initramfs-growroot"],
            },
        ),
        ("ubuntu", "noble", {"dropped": [], "tools": ["ubuntu-tools"]}),
        ("centos", "9", {"iscsi_package": ["iscsi-initiator-utils"], "dropped": ["x"]}),
    ],
)
def test_resolve_pkg_map_merges_default_family_distro_release(
    distro: str, release: str, expected: dict[str, list[str]]
) -> None:
    resolved = resolve_pkg_map(BASE_MAP, distro, release)
    for name, packages in expected.items():
        assert resolved[name] == packages
    assert list(resolved) == sorted(resolved)


def test_rewriting_pkg_maps_drops_elements_no_longer_in_the_build(hooks: Path) -> None:
    write_pkg_maps(hooks, {"other": {"default": {"a": "b"}}}, "debian", "trixie")
    assert sorted(p.name for p in (hooks / "pkg-map.d").iterdir()) == [".resolved-for", "other"]
    assert (hooks / "pkg-map.d" / "other").read_text() == "a\tb\n"


def test_a_pkg_map_d_symlink_is_replaced_not_followed(tmp_path: Path) -> None:
    tree = tmp_path / "hooks"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("mine")
    tree.mkdir()
    (tree / "pkg-map.d").symlink_to(outside)
    write_pkg_maps(tree, {"base": BASE_MAP}, "debian", "bookworm")
    assert not (tree / "pkg-map.d").is_symlink()
    assert (tree / "pkg-map.d" / "base").is_file()
    assert sorted(p.name for p in outside.iterdir()) == ["keep"]


@pytest.mark.parametrize("name", ["a/b", ".hidden", "..", "", "tab\tbed", "new\nline"])
def test_element_names_that_cannot_be_file_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ElementLoadError, match="Element name"):
        write_pkg_maps(tmp_path, {"good": {}, name: {"default": {}}}, "debian", "bookworm")
    assert not (tmp_path / "pkg-map.d").exists()  # nothing written before the check


def test_a_malformed_pkg_map_names_its_element(tmp_path: Path) -> None:
    with pytest.raises(ElementLoadError, match="'broken'"):
        write_pkg_maps(tmp_path, {"broken": {"default": {"a": 1}}}, "debian", "bookworm")
    with pytest.raises(ElementLoadError, match="tabs or newlines"):
        write_pkg_maps(tmp_path, {"e": {"default": {"a\tb": "c"}}}, "debian", "bookworm")
    with pytest.raises(SettingsError, match="DIB_RELEASE"):
        write_pkg_maps(tmp_path, {"e": {}}, "debian", "book\nworm")


# --- the pkg-map program ----------------------------------------------------------------------


def test_pkg_map_prints_mapped_names_and_skips_left_out_ones(hooks: Path, fake_bin: Path) -> None:
    env = base_env(fake_bin, TMP_HOOKS_PATH=str(hooks))
    result = run(
        helper("pkg-map"), "--element", "base", "iscsi_package", "dropped", "tools", env=env
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "open-iscsi\ntool-a tool-b\n"
    assert "INFO:root:Mapping for base : iscsi_package dropped tools" in result.stderr


def test_pkg_map_prefix_and_missing_ok(hooks: Path, fake_bin: Path) -> None:
    env = base_env(fake_bin, TMP_HOOKS_PATH=str(hooks))
    result = run(
        helper("pkg-map"),
        "--prefix",
        "-",
        "--missing-ok",
        "--element=base",
        "unknown",
        "iscsi_package",
        env=env,
    )
    assert (result.returncode, result.stdout) == (0, "-unknown\n-open-iscsi\n")


def test_pkg_map_fails_on_a_name_without_mapping(hooks: Path, fake_bin: Path) -> None:
    env = base_env(fake_bin, TMP_HOOKS_PATH=str(hooks))
    result = run(helper("pkg-map"), "--element", "base", "iscsi_package", "nope", env=env)
    assert result.returncode == 1
    assert result.stdout == "open-iscsi\n"  # printed before the failure, as DIB does
    assert "ERROR:root:base has no valid mapping for package nope" in result.stderr


def test_pkg_map_without_a_map_file(hooks: Path, fake_bin: Path) -> None:
    env = base_env(fake_bin, TMP_HOOKS_PATH=str(hooks))
    missing = run(helper("pkg-map"), "--element", "absent", "a", env=env)
    assert missing.returncode == 2
    assert "Required pkg-map for absent element does not exist." in missing.stderr
    ok = run(helper("pkg-map"), "--element", "absent", "--missing-ok", "a", "b", env=env)
    assert (ok.returncode, ok.stdout) == (0, "a\nb\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["name"], "Please specify an --element argument."),
        (["--element", "base", "--pkg-map", "/x", "n"], "Specify either --element or --pkg-map"),
        (["--element", "../etc", "n"], "Invalid element name"),
        (["--element", "base", "--distro", "ubuntu", "n"], "resolved for 'debian' 'bookworm'"),
        (["--element", "base", "--release", "trixie", "n"], "resolved for 'debian' 'bookworm'"),
        (["--element"], "expected one argument"),
    ],
)
def test_pkg_map_usage_errors_exit_1(
    hooks: Path, fake_bin: Path, args: list[str], message: str
) -> None:
    result = run(helper("pkg-map"), *args, env=base_env(fake_bin, TMP_HOOKS_PATH=str(hooks)))
    assert result.returncode == 1
    assert message in result.stderr
    assert result.stdout == ""


def test_pkg_map_accepts_the_builds_own_distro(hooks: Path, fake_bin: Path) -> None:
    env = base_env(fake_bin, TMP_HOOKS_PATH=str(hooks))
    args = ("--element", "base", "--distro", "debian", "--release", "bookworm", "iscsi_package")
    result = run(helper("pkg-map"), *args, env=env)
    assert (result.returncode, result.stdout) == (0, "open-iscsi\n")


def test_pkg_map_data_locations(hooks: Path, tmp_path: Path, fake_bin: Path) -> None:
    other = tmp_path / "other"
    write_pkg_maps(other, {"base": {"default": {"iscsi_package": "from-override"}}}, "d", "r")
    # DIB_PKG_MAP_DIR wins over TMP_HOOKS_PATH
    env = base_env(fake_bin, TMP_HOOKS_PATH=str(hooks), DIB_PKG_MAP_DIR=str(other / "pkg-map.d"))
    result = run(helper("pkg-map"), "--element", "base", "iscsi_package", env=env)
    assert result.stdout == "from-override\n"
    # a TMP_HOOKS_PATH without pkg-map.d (the host path, seen in the chroot) is passed over
    # for /tmp/in_target.d, which does not exist here: the map is missing
    env = base_env(fake_bin, TMP_HOOKS_PATH=str(tmp_path / "nowhere"))
    assert run(helper("pkg-map"), "--element", "base", "x", env=env).returncode == 2
    # --pkg-map reads one flat file
    flat = hooks / "pkg-map.d" / "base"
    result = run(helper("pkg-map"), "--pkg-map", str(flat), "tools", env=base_env(fake_bin))
    assert (result.returncode, result.stdout) == (0, "tool-a tool-b\n")


@needs_dib
@pytest.mark.parametrize(
    ("distro", "release"),
    [("debian", "bookworm"), ("debian", "bullseye"), ("ubuntu", "noble"), ("centos", "9")],
)
@pytest.mark.parametrize("missing_ok", [False, True])
def test_pkg_map_answers_as_dibs_pkg_map(
    tmp_path: Path, fake_bin: Path, distro: str, release: str, missing_ok: bool
) -> None:
    json_map = tmp_path / "base.json"
    json_map.write_text(json.dumps(BASE_MAP))
    write_pkg_maps(tmp_path / "hooks", {"base": BASE_MAP}, distro, release)
    names = ["iscsi_package", "dropped", "tools", "cloud-initramfs-growroot", "unknown"]
    flags = ["--missing-ok"] if missing_ok else []
    ours = run(
        helper("pkg-map"),
        "--element",
        "base",
        "--prefix",
        "-",
        *flags,
        *names,
        env=base_env(fake_bin, TMP_HOOKS_PATH=str(tmp_path / "hooks")),
    )
    dib_args = ["--pkg-map", str(json_map), "--prefix", "-", *flags, *names]
    dib = run(
        sys.executable,
        str(DIB / "elements/pkg-map/bin/pkg-map"),
        *dib_args,
        env=base_env(fake_bin, DISTRO_NAME=distro, DIB_RELEASE=release),
    )
    assert ours.returncode == dib.returncode
    # DIB prints a JSON value as it is ("tool-a  tool-b"); both split the same way.
    assert ours.stdout.split("\n") == [" ".join(line.split()) for line in dib.stdout.split("\n")]


# --- install-packages -------------------------------------------------------------------------

FAKE_APT = """#!/bin/bash
printf '%s\\0' "$@" > "$APT_RECORD"
printf 'DEBIAN_FRONTEND=%s\\nhttp_proxy=%s\\nno_proxy=%s\\n' \
    "${DEBIAN_FRONTEND:-}" "${http_proxy:-}" "${no_proxy:-}" > "$APT_RECORD.env"
if [ -n "${DIBPY_APT_LOCK:-}" ]; then
    if flock -n "$DIBPY_APT_LOCK" true; then echo free; else echo held; fi > "$APT_RECORD.lock"
fi
exit "${APT_EXIT:-0}"
"""


@pytest.fixture
def apt(tmp_path: Path, fake_bin: Path, hooks: Path) -> Callable[..., tuple[Any, list[str] | None]]:
    """Run install-packages with the fake apt-get; returns (result, apt-get's argv or None)."""
    fake = fake_bin / "apt-get"
    fake.write_text(FAKE_APT)
    fake.chmod(0o755)
    record = tmp_path / "apt-argv"

    def call(*args: str, **env: str) -> tuple[subprocess.CompletedProcess[str], list[str] | None]:
        record.unlink(missing_ok=True)
        environment = base_env(fake_bin, APT_RECORD=str(record), TMP_HOOKS_PATH=str(hooks), **env)
        result = run(helper("install-packages"), *args, env=environment, cwd=tmp_path)
        argv = record.read_bytes().decode().split("\0")[:-1] if record.exists() else None
        return result, argv

    return call


def test_install_packages_runs_apt_get_as_dib_does(apt: Any, tmp_path: Path) -> None:
    result, argv = apt("curl", "git vim", http_proxy="http://proxy:3128")
    assert result.returncode == 0, result.stderr
    assert argv == [*APT_OPTIONS, "install", "curl", "git", "vim"]
    env = (tmp_path / "apt-argv.env").read_text()
    assert env == "DEBIAN_FRONTEND=noninteractive\nhttp_proxy=http://proxy:3128\nno_proxy=\n"


def test_install_packages_remove_and_options_among_names(apt: Any) -> None:
    assert apt("-e", "nano")[1] == [*APT_OPTIONS, "remove", "nano"]
    assert apt("nano", "-e", "vim")[1] == [*APT_OPTIONS, "remove", "nano", "vim"]
    assert apt("--", "-e")[1] == [*APT_OPTIONS, "install", "-e"]


def test_install_packages_update_upgrades_everything(apt: Any) -> None:
    result, argv = apt("-u", "ignored")
    assert result.returncode == 0
    assert argv == [*APT_OPTIONS, "dist-upgrade"]


def test_install_packages_maps_through_pkg_map(apt: Any) -> None:
    result, argv = apt("-m", "base", "iscsi_package", "tools")
    assert result.returncode == 0, result.stderr
    assert argv == [*APT_OPTIONS, "install", "open-iscsi", "tool-a", "tool-b"]
    assert apt("-mbase", "-e", "iscsi_package")[1] == [*APT_OPTIONS, "remove", "open-iscsi"]


def test_install_packages_with_nothing_left_to_install(apt: Any) -> None:
    result, argv = apt("-m", "base", "dropped")
    assert (result.returncode, argv) == (0, None)
    assert result.stdout == "Not running install-packages install with empty packages list\n"
    result, argv = apt("-e")
    assert (result.returncode, argv) == (0, None)
    assert "Not running install-packages remove with empty packages list" in result.stdout


def test_install_packages_fails_when_mapping_fails(apt: Any) -> None:
    result, argv = apt("-m", "base", "iscsi_package", "nope")
    assert (result.returncode, argv) == (1, None)
    assert result.stdout.startswith("bin/pkg-map error. open-iscsi")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-d", "x"], "Error: unsupported option -d."),
        (["-x", "curl"], "invalid option -- 'x'"),
        (["--yes", "curl"], "unrecognized option '--yes'"),
        (["curl", "-m"], "option requires an argument -- 'm'"),
        (["-u", "-x"], "invalid option -- 'x'"),  # every option is read before any action
    ],
)
def test_install_packages_bad_options(apt: Any, args: list[str], message: str) -> None:
    result, argv = apt(*args)
    assert (result.returncode, argv) == (1, None)
    assert message in result.stdout + result.stderr


def test_install_packages_help(apt: Any) -> None:
    result, argv = apt("-h")
    assert (result.returncode, argv) == (0, None)
    assert "-m          -- use custom element package map" in result.stdout


def test_install_packages_passes_on_apt_failure(apt: Any) -> None:
    result, argv = apt("curl", APT_EXIT="100")
    assert result.returncode == 100
    assert argv == [*APT_OPTIONS, "install", "curl"]


def test_install_packages_does_not_expand_globs(apt: Any, tmp_path: Path) -> None:
    (tmp_path / "libfoo").write_text("")
    assert apt("lib*")[1] == [*APT_OPTIONS, "install", "lib*"]


def test_install_packages_holds_the_apt_lock_when_asked(apt: Any, tmp_path: Path) -> None:
    lock = tmp_path / "dibpy-apt.lock"
    result, argv = apt("curl", DIBPY_APT_LOCK=str(lock))
    assert result.returncode == 0, result.stderr
    assert argv == [*APT_OPTIONS, "install", "curl"]
    assert (tmp_path / "apt-argv.lock").read_text() == "held\n"


# --- svc-map ------------------------------------------------------------------------------------

AMPHORA = {"amphora-agent": {"default": "octavia-amphora-agent", "debian": "amphora-agent"}}
IPA = {
    "ironic-python-agent": {
        "default": "openstack-ironic-python-agent",
        "redhat": "openstack-ironic-python-agent",
        "debian": "ironic-python-agent",
        "opensuse": "ironic-python-agent",
    },
    "plain": {},
    "fedora-only": {"fedora": "fedora-name", "default": "generic-name"},
}


def test_merge_svc_maps_picks_distro_family_default_or_the_name() -> None:
    maps = {"amphora": AMPHORA, "ipa": IPA, "empty": None}
    assert merge_svc_maps(maps, "ubuntu") == {
        "amphora-agent": "amphora-agent",
        "ironic-python-agent": "ironic-python-agent",
        "plain": "plain",
        "fedora-only": "generic-name",
    }
    assert merge_svc_maps(maps, "fedora") == {
        "amphora-agent": "octavia-amphora-agent",
        "ironic-python-agent": "openstack-ironic-python-agent",
        "plain": "plain",
        "fedora-only": "fedora-name",
    }


@pytest.mark.parametrize(
    ("maps", "message"),
    [
        ({"a": AMPHORA, "b": AMPHORA}, "amphora-agent already found in services list. Check b"),
        ({"a": {"svc": "not-a-map"}}, "must map a distribution"),
        ({"a": ["list"]}, "must map service names"),
        ({"a": {"svc": {"debian": None}}}, "must be a string"),
        ({"a": {"svc": {"debian": "two\nlines"}}}, "tabs or newlines"),
    ],
)
def test_merge_svc_maps_refuses_bad_maps(maps: Any, message: str) -> None:
    with pytest.raises(ElementLoadError, match=message):
        merge_svc_maps(maps, "debian")


@needs_dib
@pytest.mark.parametrize("distro", ["debian", "ubuntu", "fedora", "centos", "opensuse"])
def test_merge_svc_maps_as_dibs_merge(distro: str) -> None:
    script = DIB / "elements/svc-map/extra-data.d/10-merge-svc-map-files"
    loader = importlib.machinery.SourceFileLoader("dib_svc_map_merge", str(script))
    spec = importlib.util.spec_from_loader("dib_svc_map_merge", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    dib: dict[str, str] = {}
    for services in (AMPHORA, IPA):
        dib = module.merge_data(services, dib, distro)
    assert merge_svc_maps({"amphora": AMPHORA, "ipa": IPA}, distro) == dib


def test_svc_map_program(tmp_path: Path, fake_bin: Path) -> None:
    tree = tmp_path / "hooks"
    write_svc_map(tree, {"amphora": AMPHORA, "ipa": IPA}, "centos", "9")
    assert (tree / "svc-map.d" / "services").read_text() == (
        "amphora-agent\toctavia-amphora-agent\n"
        "fedora-only\tgeneric-name\n"
        "ironic-python-agent\topenstack-ironic-python-agent\n"
        "plain\tplain\n"
    )
    root = tmp_path / "root"
    (root / "lib/systemd/system").mkdir(parents=True)
    (root / "lib/systemd/system/ironic-python-agent.service").write_text("")
    (root / "etc/init").mkdir(parents=True)
    (root / "etc/init/fedora-only.conf").write_text("")
    env = base_env(fake_bin, TMP_HOOKS_PATH=str(tree), DIB_SVC_MAP_ROOT=str(root))
    result = run(
        helper("svc-map"), "amphora-agent", "ironic-python-agent", "fedora-only", "nginx", env=env
    )
    assert result.returncode == 0, result.stderr
    # a unit or upstart job already there under the source name keeps that name
    assert result.stdout == "octavia-amphora-agent\nironic-python-agent\nfedora-only\nnginx\n"


def test_svc_map_without_data_prints_the_names(tmp_path: Path, fake_bin: Path) -> None:
    env = base_env(fake_bin, DIB_SVC_MAP_DIR=str(tmp_path / "nothing"))
    result = run(helper("svc-map"), "a", "b", env=env)
    assert (result.returncode, result.stdout) == (0, "a\nb\n")
    help_text = run(helper("svc-map"), "--help", env=env)
    assert (help_text.returncode, help_text.stdout.split("\n")[0]) == (
        0,
        "usage: svc-map [-h] SERVICE...",
    )


# --- the pkg-map and svc-map elements ----------------------------------------------------------


def element_module(name: str) -> ModuleType:
    module = ElementIndex.discover([]).get(name).module
    assert module is not None
    return module


def data_module(name: str, **attributes: object) -> ModuleType:
    module = ModuleType(name)
    for key, value in attributes.items():
        setattr(module, key, value)
    return module


def test_svc_map_element_writes_hooks_data_and_the_images_yaml(tmp_path: Path) -> None:
    svc_map = element_module("svc-map")
    modules = {
        "amphora": data_module("amphora", SVC_MAP=AMPHORA),
        "ipa": data_module("ipa", SVC_MAP=IPA),
    }
    ctx = make_context(tmp_path, env={"DISTRO_NAME": "debian"}, modules=modules)
    ctx.hooks_path.mkdir()
    svc_map.merge_svc_map_files(ctx)
    svc_map.copy_svc_map_file(ctx)
    services = (ctx.hooks_path / "svc-map.d/services").read_text().splitlines()
    assert "amphora-agent\tamphora-agent" in services
    image_file = ctx.target_root / "usr/share/svc-map/services"
    assert stat.S_IMODE(image_file.stat().st_mode) == 0o644
    assert yaml.safe_load(image_file.read_text()) == merge_svc_maps(
        {"amphora": AMPHORA, "ipa": IPA}, "debian"
    )


def test_pkg_map_element_writes_the_maps_of_the_build(tmp_path: Path) -> None:
    pkg_map = element_module("pkg-map")
    modules = {"base": element_module("base"), "mine": data_module("mine", PKG_MAP=BASE_MAP)}
    env = {"DISTRO_NAME": "debian", "DIB_RELEASE": "bullseye"}
    ctx = make_context(tmp_path, env=env, modules=modules)
    pkg_map.create_pkg_map_dir(ctx)  # no hooks tree (no legacy element): nothing written
    assert not ctx.hooks_path.exists()
    ctx.hooks_path.mkdir()
    pkg_map.create_pkg_map_dir(ctx)
    written = ctx.hooks_path / "pkg-map.d"
    assert (written / "base").read_text() == "iscsi_package\topen-iscsi\n"
    assert "cloud-initramfs-growroot\tcloud-initramfs-growroot\n" in (written / "mine").read_text()
    assert (written / ".resolved-for").read_text() == "debian\tbullseye\n"


# --- install_helpers ----------------------------------------------------------------------------


def test_install_helpers_copies_every_helper_executable(tmp_path: Path) -> None:
    tree = tmp_path / "hooks"
    install_helpers(tree)
    for name in HELPERS:
        copied = tree / "bin" / name
        assert copied.read_bytes() == helper(name).read_bytes()
        assert stat.S_IMODE(copied.stat().st_mode) == 0o755


def test_an_elements_own_bin_file_wins(tmp_path: Path) -> None:
    tree = tmp_path / "hooks"
    (tree / "bin").mkdir(parents=True)
    (tree / "bin" / "svc-map").write_text("#!/bin/sh\necho mine\n")
    (tree / "bin" / "cache-url").symlink_to("/nonexistent")
    install_helpers(tree)
    assert (tree / "bin" / "svc-map").read_text() == "#!/bin/sh\necho mine\n"
    assert (tree / "bin" / "cache-url").is_symlink()
    assert (tree / "bin" / "pkg-map").read_bytes() == helper("pkg-map").read_bytes()


def test_install_helpers_refuses_a_symlinked_bin(tmp_path: Path) -> None:
    tree = tmp_path / "hooks"
    tree.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (tree / "bin").symlink_to(outside)
    with pytest.raises(ElementLoadError, match="symbolic link"):
        install_helpers(tree)
    assert list(outside.iterdir()) == []


# --- cache-url ----------------------------------------------------------------------------------

BODY = b"pretend this is an image\n" * 100


def cache_url(*args: str | Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {"PATH": "/usr/bin:/bin", "LC_ALL": "C", **env}
    return run(helper("cache-url"), *(str(a) for a in args), env=environment)


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".download."))


def serve(httpserver: HTTPServer, path: str, upstream: Upstream) -> str:
    httpserver.expect_request(path).respond_with_handler(upstream.handler)
    return str(httpserver.url_for(path))


def set_mtime(path: Path, when: float) -> None:
    os.utime(path, (when, when))


def test_cache_url_downloads_then_revalidates(httpserver: HTTPServer, tmp_path: Path) -> None:
    upstream = Upstream(BODY)
    url = serve(httpserver, "/image.qcow2", upstream)
    dest = tmp_path / "cache" / "sub" / "image.qcow2"

    first = cache_url(url, dest)
    assert first.returncode == 0, first.stderr
    assert first.stdout == f"Downloaded and cached {url} for the first time\n"
    assert dest.read_bytes() == BODY
    assert "If-Modified-Since" not in upstream.requests[0]

    # Not modified since the local copy: 304, the file and its mtime stay.
    set_mtime(dest, LAST_MODIFIED + 60)
    second = cache_url(url, dest)
    assert second.returncode == 0, second.stderr
    assert second.stdout == f"Server copy has not changed. Using locally cached {url}\n"
    sent = email.utils.parsedate_to_datetime(upstream.requests[1]["If-Modified-Since"])
    assert sent.timestamp() == LAST_MODIFIED + 60
    assert dest.read_bytes() == BODY
    assert dest.stat().st_mtime == LAST_MODIFIED + 60
    assert upstream.full_bodies_sent == 1

    # The server's copy is newer than ours: downloaded again.
    upstream.body = b"new image\n"
    set_mtime(dest, LAST_MODIFIED - 60)
    third = cache_url(url, dest)
    assert third.returncode == 0, third.stderr
    assert third.stdout == f"Server copy has changed. Using server version of {url}\n"
    assert dest.read_bytes() == b"new image\n"
    assert leftovers(dest.parent) == []


def test_cache_url_force_revalidate(httpserver: HTTPServer, tmp_path: Path) -> None:
    upstream = Upstream(BODY)
    url = serve(httpserver, "/SHA256SUMS", upstream)
    dest = tmp_path / "SHA256SUMS"
    dest.write_bytes(b"stale")
    set_mtime(dest, LAST_MODIFIED + 60)  # would be "not modified" without -f
    result = cache_url("-f", url, dest)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        f"Downloaded and cached {url}, having forced upstream caches to revalidate\n"
    )
    request = upstream.requests[0]
    assert request["Pragma"] == "no-cache, must-revalidate"
    assert request["Cache-Control"] == "no-cache, must-revalidate"
    assert "If-Modified-Since" not in request
    assert dest.read_bytes() == BODY


def test_cache_url_keeps_the_copy_when_a_server_ignores_the_condition(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    url = serve(httpserver, "/f", Upstream(BODY, empty_on_conditional=True))
    dest = tmp_path / "f"
    dest.write_bytes(b"cached copy")
    result = cache_url(url, dest)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"Ignoring empty file returned by curl. Using locally cached {url}\n"
    assert dest.read_bytes() == b"cached copy"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(("status", "exit_code"), [(404, 44), (403, 1), (410, 1)])
def test_cache_url_http_errors(
    httpserver: HTTPServer, tmp_path: Path, status: int, exit_code: int
) -> None:
    httpserver.expect_request("/missing").respond_with_data("no", status=status)
    dest = tmp_path / "missing"
    result = cache_url(httpserver.url_for("/missing"), dest)
    assert result.returncode == exit_code
    assert f"Server returned an unexpected response code. [{status}]" in result.stderr
    assert not dest.exists()
    assert leftovers(tmp_path) == []


def test_cache_url_follows_redirects(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request("/old").respond_with_response(
        Response(status=302, headers={"Location": httpserver.url_for("/new")})
    )
    httpserver.expect_request("/new").respond_with_data(BODY)
    dest = tmp_path / "moved"
    result = cache_url(httpserver.url_for("/old"), dest)
    assert result.returncode == 0, result.stderr
    assert dest.read_bytes() == BODY


def test_cache_url_unreachable_server(tmp_path: Path) -> None:
    dest = tmp_path / "x"
    result = cache_url(f"http://127.0.0.1:{closed_port()}/x", dest)
    assert result.returncode == 7  # curl: could not connect
    assert "curl failed with exit status 7" in result.stderr
    assert not dest.exists()
    assert leftovers(tmp_path) == []


def test_cache_url_file_urls(tmp_path: Path) -> None:
    source = tmp_path / "source.img"
    source.write_bytes(BODY)
    dest = tmp_path / "cache" / "copy.img"
    result = cache_url(f"file://{source}", dest)
    assert result.returncode == 0, result.stderr
    assert dest.read_bytes() == BODY
    missing = cache_url(f"file://{tmp_path}/absent", tmp_path / "cache" / "absent")
    assert missing.returncode == 37  # curl: could not read the file
    assert leftovers(tmp_path / "cache") == []


def test_cache_url_into_a_fifo(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request("/stream").respond_with_data(BODY)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = cache_url(httpserver.url_for("/stream"), fifo, TMPDIR=str(tmp_path))
    reader.join(timeout=30)
    if reader.is_alive():  # nothing was written: let the reader's open return
        with fifo.open("wb"):
            pass
    assert result.returncode == 0, result.stderr
    assert received == [BODY]
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo"]  # temp file removed


def test_cache_url_usage(tmp_path: Path) -> None:
    assert cache_url().returncode == 1
    assert "Usage: cache-url [options] <url> <destination_file>" in cache_url("-h").stdout
    assert cache_url("-h").returncode == 0
    bad = cache_url("-x", "http://a/", tmp_path / "d")
    assert bad.returncode == 1
    assert "invalid option -- 'x'" in bad.stderr


def test_cache_url_handler_sees_the_real_request(httpserver: HTTPServer, tmp_path: Path) -> None:
    """A user agent and no conditional on a first download: what curl really sends."""
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        return Response(BODY)

    httpserver.expect_request("/ua").respond_with_handler(handler)
    assert cache_url(httpserver.url_for("/ua"), tmp_path / "ua").returncode == 0
    assert seen[0].headers["User-Agent"].startswith("curl/")


# --- img-functions: select_boot_kernel_initrd -------------------------------------------------

CALLER = """set -eu
set -o pipefail
source "$1"
select_boot_kernel_initrd "$2"
printf '%s\\n' "$BOOTDIR" "$KERNEL" "$RAMDISK"
"""


def boot_layout(root: Path, release_file: str, files: Sequence[str]) -> Path:
    (root / "etc").mkdir(parents=True, exist_ok=True)
    (root / "etc" / release_file).write_text("")
    (root / "boot").mkdir(exist_ok=True)
    for name in files:
        (root / "boot" / name).write_text(name)
    return root


def select(
    tmp_path: Path, root: Path, env: Mapping[str, str] | None = None, lib: Path = LIB_DIR
) -> subprocess.CompletedProcess[str]:
    caller = tmp_path / "caller.sh"
    caller.write_text(CALLER)
    environment = {"PATH": "/usr/bin:/bin", "LC_ALL": "C", **(env or {})}
    return run("bash", str(caller), str(lib / "img-functions"), str(root), env=environment)


DEBIAN_BOOT = [
    "vmlinuz-6.1.0-9-amd64",
    "vmlinuz-6.1.0-18-amd64",
    "initrd.img-6.1.0-9-amd64",
    "initrd.img-6.1.0-18-amd64",
    "config-6.1.0-18-amd64",
]
UBUNTU_BOOT = [
    "vmlinuz-6.8.0-31-generic",
    "vmlinuz-6.8.0-9-generic",
    "vmlinuz-6.9.0-custom",
    "initrd.img-6.8.0-31-generic",
    "initrd.img-6.8.0-9-generic",
    "initrd.img-6.9.0-custom",
]
CASES: dict[str, tuple[str, list[str], dict[str, str], tuple[str, str]]] = {
    "debian-newest": (
        "debian_version",
        DEBIAN_BOOT,
        {},
        ("vmlinuz-6.1.0-18-amd64", "initrd.img-6.1.0-18-amd64"),
    ),
    "ubuntu-generic-first": (
        "debian_version",
        UBUNTU_BOOT,
        {},
        ("vmlinuz-6.8.0-31-generic", "initrd.img-6.8.0-31-generic"),
    ),
    "patterns": (
        "debian_version",
        UBUNTU_BOOT,
        {"DIB_BAREMETAL_KERNEL_PATTERN": "vmlinuz-*custom", "DIB_BAREMETAL_INITRD_PATTERN": "i*m"},
        ("vmlinuz-6.9.0-custom", "initrd.img-6.9.0-custom"),
    ),
    "redhat-pae-first": (
        "redhat-release",
        [
            "vmlinuz-5.14.0-1.el9.x86_64",
            "vmlinuz-5.14.0-2.el9.x86_64+debug",
            "vmlinuz-5.14.0-0.el9.PAE",
            "initramfs-5.14.0-0.el9.PAE.img",
            "initramfs-5.14.0-1.el9.x86_64.img",
        ],
        {},
        ("vmlinuz-5.14.0-0.el9.PAE", "initramfs-5.14.0-0.el9.PAE.img"),
    ),
    "redhat-newest-without-debug": (
        "redhat-release",
        [
            "vmlinuz-5.14.0-1.el9.x86_64",
            "vmlinuz-5.14.0-2.el9.x86_64+debug",
            "initramfs-5.14.0-1.el9.x86_64.img",
        ],
        {},
        ("vmlinuz-5.14.0-1.el9.x86_64", "initramfs-5.14.0-1.el9.x86_64.img"),
    ),
    "gentoo": (
        "gentoo-release",
        ["vmlinuz-6.6.1-gentoo", "vmlinuz-6.6.10-gentoo", "initramfs-6.6.10-gentoo.img"],
        {},
        ("vmlinuz-6.6.10-gentoo", "initramfs-6.6.10-gentoo.img"),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_select_boot_kernel_initrd(tmp_path: Path, case: str) -> None:
    release_file, files, env, expected = CASES[case]
    root = boot_layout(tmp_path / "my root", release_file, files)  # a space on purpose
    result = select(tmp_path, root, env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"{root}/boot", *expected]


@needs_dib
@pytest.mark.parametrize("case", sorted(CASES))
def test_select_boot_kernel_initrd_as_dibs(tmp_path: Path, case: str) -> None:
    release_file, files, env, _ = CASES[case]
    if case == "ubuntu-generic-first":  # two generic kernels: DIB's basename gets 2 args
        files = [f for f in files if "-9-" not in f]
    root = boot_layout(tmp_path / "root", release_file, files)
    ours = select(tmp_path, root, env)
    dib = select(tmp_path, root, env, DIB / "lib")
    assert dib.returncode == 0, dib.stderr
    assert ours.stdout == dib.stdout


def test_select_boot_kernel_initrd_signed_kernel(tmp_path: Path) -> None:
    files = [*UBUNTU_BOOT, "vmlinuz-6.8.0-31-generic.efi.signed"]
    root = boot_layout(tmp_path / "root", "debian_version", files)
    (root / "dib-signed-kernel-version").write_text("DIB_SIGNED_KERNEL_VERSION=6.8.0-31\n")
    result = select(tmp_path, root)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1:] == [
        "vmlinuz-6.8.0-31-generic.efi.signed",
        "initrd.img-6.8.0-31-generic",
    ]
    assert "Using signed kernel 6.8.0-31" in result.stderr


def test_select_boot_kernel_initrd_suse_follows_links(tmp_path: Path) -> None:
    root = boot_layout(tmp_path / "root", "SuSE-release", ["vmlinuz-6.4.0-1", "initrd-6.4.0-1"])
    (root / "boot/vmlinuz").symlink_to("vmlinuz-6.4.0-1")
    (root / "boot/initrd").symlink_to("initrd-6.4.0-1")
    result = select(tmp_path, root)
    assert result.stdout.splitlines()[1:] == ["vmlinuz-6.4.0-1", "initrd-6.4.0-1"]


@pytest.mark.parametrize(
    ("release_file", "files", "message"),
    [
        ("debian_version", ["initrd.img-6.1.0-18-amd64"], "no kernel found"),
        ("debian_version", ["vmlinuz-6.1.0-18-amd64"], "no initramfs found"),
        ("redhat-release", ["vmlinuz-5.14.0-1.el9"], "Can't find an initramfs for the 5.14.0-1"),
        ("redhat-release", ["vmlinuz-5.14.0-1.el9+debug"], "No suitable kernel found."),
        ("os-release", ["vmlinuz-1"], "ERROR: Unable to detect operating system"),
    ],
)
def test_select_boot_kernel_initrd_failures(
    tmp_path: Path, release_file: str, files: list[str], message: str
) -> None:
    root = boot_layout(tmp_path / "root", release_file, files)
    result = select(tmp_path, root)
    assert result.returncode == 1
    assert message in result.stderr
    assert result.stdout == ""


def test_select_boot_kernel_initrd_under_noglob_and_keeps_the_callers_options(
    tmp_path: Path,
) -> None:
    root = boot_layout(tmp_path / "root", "debian_version", DEBIAN_BOOT)
    caller = tmp_path / "noglob.sh"
    caller.write_text(
        'set -euf\nsource "$1"\nselect_boot_kernel_initrd "$2"\n'
        'echo "$KERNEL"\ncase $- in *f*) echo noglob-kept ;; esac\n'
        "shopt -q nullglob && echo nullglob-leaked || echo nullglob-off\n"
    )
    result = run(
        "bash",
        str(caller),
        str(LIB_DIR / "img-functions"),
        str(root),
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["vmlinuz-6.1.0-18-amd64", "noglob-kept", "nullglob-off"]


# --- die --------------------------------------------------------------------------------------

DIE_CALLER = """source "$1"
case "$2" in
    failed) false || die "it failed" ;;
    status) (exit 3) || die "status three" ;;
    in-if) if true; then die "inside if"; fi ;;
    child) bash -c 'false || die "from a child"' || exit $? ;;
esac
echo "not reached"
"""


@pytest.mark.parametrize(
    ("how", "code", "message"),
    [
        ("failed", 1, "it failed"),
        ("status", 3, "status three"),
        ("in-if", 1, "inside if"),  # DIB's would exit 0 here
        ("child", 1, "from a child"),  # exported to the scripts a hook starts
    ],
)
def test_die(tmp_path: Path, how: str, code: int, message: str) -> None:
    caller = tmp_path / "die.sh"
    caller.write_text(DIE_CALLER)
    result = run("bash", str(caller), str(LIB_DIR / "die"), how, env={"PATH": "/usr/bin:/bin"})
    assert (result.returncode, result.stderr.strip()) == (code, message)
    assert "not reached" not in result.stdout
