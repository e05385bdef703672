"""Package declarations: DIB's package-installs rules and pkg-map, as pure functions."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from conftest import ContextFactory

import dibpy
from dibpy.elements.packages import (
    PACKAGE_PHASES,
    PackageOptions,
    map_names,
    parse_packages,
    squash,
)
from dibpy.errors import ElementLoadError, SettingsError
from dibpy.legacy import hooktree
from dibpy.phases import Phase

_DIB = importlib.util.find_spec("diskimage_builder")
DIB_ELEMENTS = Path(_DIB.origin).parent / "elements" if _DIB and _DIB.origin else None


def test_phases_and_default_phase() -> None:
    result = squash({"a": {"curl": None, "lsb-release": {"phase": "pre-install.d"}}}, "amd64", {})
    assert result[Phase.INSTALL].install == ["curl"]
    assert result[Phase.PRE_INSTALL].install == ["lsb-release"]
    assert result[Phase.POST_INSTALL].install == []


def test_arch_and_not_arch_filters() -> None:
    declared = {
        "a": {
            "k-amd": {"arch": "amd64"},
            "k-arm": {"arch": "arm64, armhf"},
            "not-arm": {"not-arch": "arm64"},
        }
    }
    assert squash(declared, "amd64", {})[Phase.INSTALL].install == ["k-amd", "not-arm"]
    assert squash(declared, "armhf", {})[Phase.INSTALL].install == ["k-arm", "not-arm"]
    with pytest.raises(SettingsError, match="both 'arch' and 'not-arch'"):
        PackageOptions.model_validate({"arch": "amd64", "not-arch": "arm64"}).applies("amd64", {})


def test_when_conditions() -> None:
    declared = {
        "a": {"generic": {"when": "KERNEL = generic"}, "other": {"when": "KERNEL != generic"}}
    }
    assert squash(declared, "amd64", {"KERNEL": "generic"})[Phase.INSTALL].install == ["generic"]
    assert squash(declared, "amd64", {"KERNEL": "kvm"})[Phase.INSTALL].install == ["other"]
    with pytest.raises(SettingsError, match="KERNEL"):
        squash(declared, "amd64", {})


def test_dib_python_version_picks_the_entry_of_the_build_s_python() -> None:
    """DIB's svc-map: PyYAML with dib_python_version 2, python3-PyYAML with 3."""
    declared = {
        "svc-map": {
            "PyYAML": {"phase": "pre-install.d", "dib_python_version": 2},
            "python3-PyYAML": {"phase": "pre-install.d", "dib_python_version": "3"},
        }
    }
    for version, expected in (("3", ["python3-PyYAML"]), ("2", ["PyYAML"]), ("", [])):
        env = {"DIB_PYTHON_VERSION": version}
        assert squash(declared, "amd64", env)[Phase.PRE_INSTALL].install == expected


def test_conflict_rules_of_package_installs_squash() -> None:
    declared = {
        "a": {"gcc": {"uninstall": True}, "make": {"build-only": True}},
        "b": {"gcc": None, "vim": None},
        "c": {"vim": {"uninstall": True}},
    }
    lists = squash(declared, "amd64", {})[Phase.INSTALL]
    assert lists.install == ["make", "gcc", "vim"]  # a later install cancels the uninstall
    assert lists.uninstall == ["make"]  # build-only: installed, then removed; vim kept


def test_list_of_option_maps_and_bad_options() -> None:
    entries = parse_packages("a", {"p": [{"phase": "install"}, {"phase": "post-install"}]})
    assert [o.phase for _, o in entries] == [Phase.INSTALL, Phase.POST_INSTALL]
    with pytest.raises(ElementLoadError, match=r"'p'.*bogus"):
        parse_packages("a", {"p": {"bogus": 1}})
    with pytest.raises(ElementLoadError, match="PACKAGES must map"):
        parse_packages("a", ["p"])


def test_pkg_map_precedence_and_skips() -> None:
    pkg_map = {
        "default": {"iscsi": "open-iscsi", "growroot": ""},
        "family": {"redhat": {"iscsi": "iscsi-initiator-utils"}},
        "distro": {"ubuntu": {"editor": "vim-tiny"}},
        "release": {"debian": {"bullseye": {"growroot": "cloud-initramfs-growroot"}}},
    }
    assert map_names(["iscsi", "growroot", "x"], pkg_map, "debian", "bookworm") == [
        "open-iscsi",
        "x",
    ]
    assert map_names(["growroot"], pkg_map, "debian", "bullseye") == ["cloud-initramfs-growroot"]
    assert map_names(["iscsi"], pkg_map, "centos", "9") == ["iscsi-initiator-utils"]
    assert map_names(["editor"], pkg_map, "ubuntu", "noble") == ["vim-tiny"]
    assert map_names(["two"], {"default": {"two": "a b"}}, "debian", "x") == ["a", "b"]


# Packages dibpy installs differently from DIB on purpose: (element, package) -> why.
DELIBERATE = {
    ("install-static", "rsync"): "dibpy copies static/ from the host: no rsync in the image",
}

SETS = [
    pytest.param(
        ("vm", "debian-minimal"), "amd64", {"DIB_RELEASE": "bookworm"}, "linux-image-amd64",
        id="debian-bookworm",
    ),
    pytest.param(  # debootstrap's pkg-map maps growroot on bullseye only (its release level)
        ("vm", "debian-minimal"), "amd64", {"DIB_RELEASE": "bullseye"}, "linux-image-amd64",
        id="debian-bullseye",
    ),
    pytest.param(
        ("vm", "debian-minimal"), "arm64", {"DIB_RELEASE": "bookworm"}, "linux-image-arm64",
        id="debian-arm64",
    ),
    pytest.param(
        ("vm", "ubuntu-minimal"), "amd64", {"DIB_RELEASE": "noble"}, "linux-image-generic",
        id="ubuntu-minimal-noble",
    ),
    pytest.param(
        ("vm", "ubuntu-minimal"), "arm64", {"DIB_RELEASE": "noble"}, "linux-image-generic",
        id="ubuntu-minimal-arm64",
    ),
    pytest.param(
        ("vm", "ubuntu-minimal"), "amd64",
        {"DIB_RELEASE": "jammy", "DIB_UBUNTU_KERNEL": "linux-image-hwe"},
        "linux-generic-hwe-22.04",
        id="ubuntu-minimal-jammy-hwe",
    ),
    pytest.param(
        ("vm", "ubuntu-minimal"), "amd64",
        {"DIB_RELEASE": "noble", "DIB_UBUNTU_KERNEL": "linux-image-kvm"}, "linux-image-kvm",
        id="ubuntu-minimal-kvm",
    ),
    pytest.param(
        ("vm", "ubuntu"), "amd64", {"DIB_RELEASE": "noble"}, "linux-image-generic", id="ubuntu"
    ),
    pytest.param(  # DIB's own folders among them: simple-init (a when, an uninstall), ...
        ("vm", "simple-init", "debian-minimal", "cache-url", "source-repositories", "dkms"),
        "amd64", {"DIB_RELEASE": "bookworm"}, "linux-image-amd64",
        id="debian-with-legacy-elements",
    ),
]  # fmt: skip


def dib_package_lists(
    elements: Sequence[str], arch: str, env: Mapping[str, str], work: Path
) -> dict[str, dict[str, list[str]]]:
    """What DIB 3.43 installs and uninstalls in each phase for ``elements``: its own
    package-installs-squash over its element folders, then each element's names mapped by
    its own pkg-map script, as its package-installs-v2 does."""
    environment = {"PATH": os.environ["PATH"], **env, "ARCH": arch}
    squashed = work / "squashed.json"
    subprocess.run(
        [sys.executable, DIB_ELEMENTS / "package-installs/bin/package-installs-squash",
         "--elements", " ".join(elements), "--path", DIB_ELEMENTS, squashed],
        env=environment, check=True, capture_output=True,
    )  # fmt: skip
    tables = json.loads(squashed.read_text())
    lists: dict[str, dict[str, list[str]]] = {}
    for phase in PACKAGE_PHASES:
        lists[phase.value] = {}
        for kind in ("install", "uninstall"):
            by_element: dict[str, list[str]] = {}
            for name, element in tables.get(f"{phase.value}.d", {}).get(kind, []):
                if (element, name) not in DELIBERATE:
                    by_element.setdefault(element, []).append(name)
            names: set[str] = set()
            for element, declared in by_element.items():
                pkg_map = DIB_ELEMENTS / element / "pkg-map"
                if not pkg_map.is_file():
                    names.update(declared)
                    continue
                mapped = subprocess.run(
                    [sys.executable, DIB_ELEMENTS / "pkg-map/bin/pkg-map", "--prefix", "-",
                     "--missing-ok", "--pkg-map", pkg_map, "--distro", env["DISTRO_NAME"],
                     "--release", env["DIB_RELEASE"], *declared],
                    env=environment, check=True, capture_output=True, text=True,
                )  # fmt: skip
                names.update(line[1:] for line in mapped.stdout.splitlines() if line[:1] == "-")
            lists[phase.value][kind] = sorted(names)
    return lists


@pytest.mark.skipif(DIB_ELEMENTS is None, reason="diskimage-builder (in .[test]) not installed")
@pytest.mark.parametrize(("elements", "arch", "env", "kernel"), SETS)
def test_each_phase_installs_what_dib_installs(
    context_factory: ContextFactory,
    tmp_path: Path,
    elements: tuple[str, ...],
    arch: str,
    env: dict[str, str],
    kernel: str,
) -> None:
    """The package-installs element's own lists (``phase_packages``, what its hooks hand to
    apt) for a real plan, against DIB's scripts run on DIB's element folders."""
    plan = dibpy.plan(elements, arch=arch, env=env)
    modules = {e.name: e.module for e in plan.element_set.elements if e.module}
    ctx = context_factory(
        elements=plan.elements, modules=modules, env=plan.environment(env), arch=arch
    )
    hooktree.assemble(plan.element_set.elements, ctx.hooks_path)
    package_installs = modules["package-installs"]
    ours = {}
    for phase in PACKAGE_PHASES:
        lists = package_installs.phase_packages(ctx, phase)
        assert len(set(lists.install)) == len(lists.install)  # apt gets each name once
        ours[phase.value] = {"install": sorted(lists.install), "uninstall": sorted(lists.uninstall)}
    theirs = dib_package_lists(plan.elements, arch, ctx.shell_environment(Phase.INSTALL), tmp_path)
    assert ours == theirs
    assert kernel in ours["install"]["install"]
