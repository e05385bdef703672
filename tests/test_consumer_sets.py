"""Proof 4: the element sets DIB's real consumers build with resolve under dibpy.

Each consumer's own elements are stood in for by the legacy folders under
``tests/consumers/<consumer>/`` (real names, their element-deps as the consumer has them or
plausibly so, a script or two that only echo). ``dibpy plan --json`` must resolve each set;
every element must come from where we say: a stand-in folder, one of dibpy's built-in Python
elements, or a folder of the installed diskimage-builder. Without diskimage-builder, the
error must name the first element that is missing and say how to get DIB's elements.

``python tests/test_consumer_sets.py`` prints the table of docs/legacy-elements.md.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, clean_env, run_dibpy

from dibpy import api
from dibpy.elements import ElementIndex, builtin_elements_dir, resolve, with_defaults
from dibpy.elements.index import DIB_HINT, DIB_KIND
from dibpy.errors import ElementNotFoundError

CONSUMERS = REPO / "tests" / "consumers"
OPERATING_SYSTEM = "operating-system"
# The nodepool base image, before the distribution is added (project-config, nodepool/nb*.yaml).
NODEPOOL = (
    "vm",
    "simple-init",
    "openstack-repos",
    "nodepool-base",
    "cache-devstack",
    "initialize-urandom",
    "growroot",
    "infra-package-needs",
)
OCTAVIA_OWN = (
    "haproxy-octavia",
    "rebind-sshd",
    "no-resolvconf",
    "amphora-agent",
    "sos",
)


@dataclass(frozen=True)
class ConsumerSet:
    """One ``disk-image-create`` command line of a consumer, and what we expect of it.

    ``python`` and ``dib`` name elements whose origin the test pins (dibpy's built-in module,
    DIB's folder); an element dibpy ports later moves from ``dib`` to ``python`` here and in
    docs/legacy-elements.md. Every other element is checked generically.
    """

    id: str
    consumer: str  # the folder of stand-ins under tests/consumers, "" for none
    elements: tuple[str, ...]
    operating_system: str
    python: frozenset[str] = field(default_factory=frozenset)
    dib: frozenset[str] = field(default_factory=frozenset)
    arch: str = "amd64"
    skip_base: bool = False
    # Without diskimage-builder: the first element reported missing and who needs it (every
    # DIB folder of the set is missing then; the error names the first); None: resolves.
    without_dib: tuple[str, str | None] | None = None
    cli: bool = False  # checked through `python -m dibpy plan --json` (else in-process)

    @property
    def element_paths(self) -> list[Path]:
        return [CONSUMERS / self.consumer] if self.consumer else []

    @property
    def argv(self) -> list[str]:
        paths = [arg for p in self.element_paths for arg in ("--element-path", str(p))]
        skip = ["-n"] if self.skip_base else []
        return ["plan", "--json", "-a", self.arch, *skip, *paths, *self.elements]


SETS = [
    # OpenStack CI (nodepool diskimages, project-config until 2025-07).
    ConsumerSet(
        "openstack-ci-ubuntu",
        "openstack-ci",
        ("ubuntu-minimal", *NODEPOOL),
        "ubuntu-minimal",
        python=frozenset(
            {"base", "vm", "ubuntu-minimal", "block-device-mbr", "bootloader", "ensure-venv"}
            | {"growroot", "devuser", "openssh-server", "runtime-ssh-host-keys"}
        ),
        dib=frozenset({"simple-init"}),
        cli=True,
        without_dib=("simple-init", None),
    ),
    ConsumerSet(
        "openstack-ci-debian-arm64",
        "openstack-ci",
        ("debian-minimal", "block-device-efi", *NODEPOOL, "journal-to-console"),
        "debian-minimal",
        python=frozenset({"debian-minimal", "block-device-efi", "journal-to-console", "growroot"}),
        dib=frozenset({"simple-init"}),
        arch="arm64",
        without_dib=("simple-init", None),
    ),
    ConsumerSet(
        "openstack-ci-centos",
        "openstack-ci",
        ("centos-minimal", "epel", *NODEPOOL),
        "centos-minimal",
        python=frozenset({"epel"}),
        dib=frozenset({"centos-minimal", "yum-minimal", "rpm-distro", "redhat-common"}),
        without_dib=("centos-minimal", None),
    ),
    ConsumerSet(
        "openstack-ci-rocky",
        "openstack-ci",
        ("rocky-container", "epel", *NODEPOOL),
        "containerfile",
        python=frozenset({"epel"}),
        dib=frozenset({"rocky-container", "containerfile", "yum"}),
        without_dib=("rocky-container", None),
    ),
    ConsumerSet(
        "openstack-ci-gentoo",
        "openstack-ci",
        ("gentoo", *NODEPOOL),
        "gentoo",
        dib=frozenset({"gentoo"}),
        without_dib=("gentoo", None),
    ),
    ConsumerSet(
        "openstack-ci-openeuler",
        "openstack-ci",
        ("openeuler-minimal", *NODEPOOL),
        "openeuler-minimal",
        dib=frozenset({"openeuler-minimal", "yum-minimal"}),
        without_dib=("openeuler-minimal", None),
    ),
    # Octavia's amphora: diskimage-create.sh with its defaults (ubuntu-minimal, haproxy).
    ConsumerSet(
        "octavia",
        "octavia",
        (
            "base",
            "vm",
            "ubuntu-minimal",
            *OCTAVIA_OWN,
            "cloud-init-datasources",
            "amphora-apparmor",
            "keepalived-octavia",
            "ipvsadmin",
            "pip-cache",
            "certs-ramfs",
        ),
        "ubuntu-minimal",
        python=frozenset({"base", "vm", "ubuntu-minimal", "cloud-init-datasources", "pip-cache"}),
        dib=frozenset({"sysctl"}),
        cli=True,
        without_dib=("sysctl", "haproxy-octavia"),
    ),
    # ... with -i centos-minimal -e -r PASSWORD -n: SELinux enforcing, root password, no sshd.
    ConsumerSet(
        "octavia-centos",
        "octavia",
        (
            "base",
            "vm",
            "centos-minimal",
            *OCTAVIA_OWN,
            "cloud-init-datasources",
            "amphora-selinux",
            "root-passwd",
            "keepalived-octavia",
            "ipvsadmin",
            "pip-cache",
            "certs-ramfs",
            "remove-sshd",
        ),
        "centos-minimal",
        python=frozenset({"pip-cache"}),
        dib=frozenset({"centos-minimal", "sysctl"}),
        without_dib=("centos-minimal", None),
    ),
    # Trove's guest image.
    ConsumerSet(
        "trove",
        "trove",
        (
            "base",
            "vm",
            "openstack-ci-mirrors",
            "ubuntu-minimal",
            "cloud-init-datasources",
            "pip-cache",
            "guest-agent",
            "ubuntu-docker",
        ),
        "ubuntu-minimal",
        python=frozenset({"ubuntu-minimal", "cloud-init-datasources", "pip-cache"}),
        dib=frozenset({"openstack-ci-mirrors"}),
        cli=True,
        without_dib=("openstack-ci-mirrors", None),
    ),
    # ironic-python-agent-builder: `disk-image-create ironic-python-agent-ramdisk DISTRO`.
    ConsumerSet(
        "ironic-python-agent-builder",
        "ironic-python-agent-builder",
        ("ironic-python-agent-ramdisk", "debian"),
        "debian-minimal",
        python=frozenset(
            {"debian", "debian-minimal", "selinux-permissive"}
            | {"dhcp-all-interfaces", "runtime-ssh-host-keys"}
        ),
        dib=frozenset({"no-final-image", "ibft-interfaces"}),
        cli=True,
        without_dib=("ibft-interfaces", "ironic-python-agent-ramdisk"),
    ),
    ConsumerSet(
        "ironic-python-agent-builder-ubuntu",
        "ironic-python-agent-builder",
        ("ironic-python-agent-ramdisk", "ubuntu"),
        "ubuntu",
        python=frozenset({"ubuntu"}),
        without_dib=("ibft-interfaces", "ironic-python-agent-ramdisk"),
    ),
    # ... and its CI job (ironic-python-agent-check-image-dib-centos9).
    ConsumerSet(
        "ironic-python-agent-builder-ci",
        "ironic-python-agent-builder",
        ("ironic-python-agent-ramdisk", "centos-minimal", "dynamic-login"),
        "centos-minimal",
        python=frozenset({"selinux-permissive", "dynamic-login", "openssh-server"}),
        dib=frozenset({"centos-minimal"}),
        without_dib=("centos-minimal", None),
    ),
    # bifrost's deployment image.
    ConsumerSet(
        "bifrost",
        "",
        ("debian", "vm", "enable-serial-console", "simple-init"),
        "debian-minimal",
        python=frozenset(
            {"debian", "vm", "debian-minimal", "block-device-mbr", "enable-serial-console"}
        ),
        dib=frozenset({"simple-init"}),
        cli=True,
        without_dib=("simple-init", None),
    ),
    ConsumerSet(
        "bifrost-efi",
        "",
        ("debian", "vm", "block-device-efi", "enable-serial-console", "simple-init"),
        "debian-minimal",
        python=frozenset({"block-device-efi", "debian"}),
        dib=frozenset({"simple-init"}),
        without_dib=("simple-init", None),
    ),
    # kayobe's overcloud host image: the OS element, then its default elements.
    ConsumerSet(
        "kayobe-ubuntu",
        "",
        ("ubuntu", "cloud-init", "cloud-init-datasources", "enable-serial-console", "vm"),
        "ubuntu",
        python=frozenset({"ubuntu", "cloud-init-datasources", "vm", "enable-serial-console"}),
        dib=frozenset({"cloud-init"}),
        cli=True,
        without_dib=("cloud-init", None),
    ),
    ConsumerSet(
        "kayobe-rocky",
        "",
        ("rocky-container", "cloud-init", "cloud-init-datasources", "enable-serial-console", "vm"),
        "containerfile",
        dib=frozenset({"rocky-container", "containerfile", "cloud-init"}),
        without_dib=("rocky-container", None),
    ),
    ConsumerSet(
        "kayobe-centos",
        "",
        ("centos", "cloud-init", "cloud-init-datasources", "enable-serial-console", "vm"),
        "centos",
        dib=frozenset({"centos", "cloud-init"}),
        without_dib=("centos", None),
    ),
    # zuul-jobs' build-diskimage role, with its default elements.
    ConsumerSet(
        "zuul-jobs",
        "",
        ("ubuntu", "vm"),
        "ubuntu",
        python=frozenset({"base", "ubuntu", "vm", "block-device-mbr"}),
        cli=True,
        without_dib=None,
    ),
]
BY_ID = {case.id: case for case in SETS}


def discover(case: ConsumerSet) -> ElementIndex:
    return ElementIndex.discover(case.element_paths, "")


def ported() -> set[str]:
    """The names of dibpy's built-in Python elements (module or package)."""
    found = set()
    for entry in builtin_elements_dir().iterdir():
        if entry.suffix == ".py" and not entry.name.startswith("_"):
            found.add(entry.stem)
        elif (entry / "__init__.py").is_file():
            found.add(entry.name)
    return found


def standins(case: ConsumerSet) -> set[str]:
    if not case.consumer:
        return set()
    return {p.name for p in (CONSUMERS / case.consumer).iterdir() if p.is_dir()}


def origins(case: ConsumerSet, names: list[str]) -> dict[str, str]:
    """``{element: "stand-in" | "python" | "dib"}`` for a resolved set."""
    index = discover(case)
    found = {}
    for name in names:
        source = index.source(name)
        if source.origin.kind == "path":
            found[name] = "stand-in"
        elif source.origin.kind == DIB_KIND:
            found[name] = "dib"
        else:
            found[name] = source.kind
    return found


def check_plan(case: ConsumerSet, data: dict[str, Any]) -> None:
    """What every consumer set's plan must show."""
    names = data["elements"]
    assert len(names) == len(set(names))
    assert set(case.elements) <= set(names)
    index = discover(case)
    elements = {name: index.get(name) for name in names}
    python_modules = ported()
    own = standins(case)
    for name, element in elements.items():
        kind = element.origin.kind
        if name in own:  # the consumer's element: its stand-in folder
            assert (kind, element.kind) == ("path", "legacy"), name
            assert element.folder == CONSUMERS / case.consumer / name
            assert "Stand-in for" in element.summary
        elif name in python_modules:  # dibpy's Python element wins over DIB's folder
            assert (kind, element.kind) == ("built-in", "python"), name
        else:  # everything else is one of DIB's own folders, run as a legacy element
            assert (kind, element.kind) == (DIB_KIND, "legacy"), name
    for name in case.python:
        assert (elements[name].origin.kind, elements[name].kind) == ("built-in", "python"), name
    for name in case.dib:
        assert (elements[name].origin.kind, elements[name].kind) == (DIB_KIND, "legacy"), name

    providers = [n for n, e in elements.items() if OPERATING_SYSTEM in e.provides]
    assert providers == [case.operating_system]

    planned = {
        (phase, item["element"], item["hook"]): item
        for phase, items in data["phases"].items()
        for item in items
    }
    for (_phase, element_name, _hook), item in planned.items():
        assert item["kind"] == elements[element_name].kind, item
    for name in own & set(names):  # every script of a stand-in is planned, as a legacy hook
        for hook in elements[name].hooks:
            item = planned[(hook.phase.value, name, hook.name)]
            assert item == {
                "order": hook.order,
                "element": name,
                "hook": hook.name,
                "kind": "legacy",
            }


# --- resolution --------------------------------------------------------------------------


@pytest.mark.parametrize("case", [c for c in SETS if c.cli], ids=lambda c: c.id)
def test_dibpy_plan_resolves_the_consumer_set(case: ConsumerSet, tmp_path: Path) -> None:
    done = run_dibpy(case.argv, clean_env(tmp_path), tmp_path)
    assert done.returncode == 0, done.stderr
    check_plan(case, json.loads(done.stdout))


@pytest.mark.parametrize("case", [c for c in SETS if not c.cli], ids=lambda c: c.id)
def test_the_variants_resolve_too(case: ConsumerSet) -> None:
    plan = api.plan(
        case.elements,
        element_paths=case.element_paths,
        arch=case.arch,
        skip_base=case.skip_base,
        env={},
    )
    check_plan(case, plan.to_dict())


def test_every_stand_in_is_a_legacy_element_some_set_uses() -> None:
    used = {
        (case.consumer, name)
        for case in SETS
        for name in resolve(
            with_defaults(case.elements, case.arch, skip_base=case.skip_base), discover(case)
        ).names
    }
    for folder in sorted(CONSUMERS.iterdir()):
        for element in sorted(p for p in folder.iterdir() if p.is_dir()):
            assert (element / "README.rst").read_text().splitlines()[3].startswith("Stand-in for")
            assert (folder.name, element.name) in used, f"{folder.name}/{element.name} is unused"


def test_the_octavia_amphora_has_its_own_elements_and_dibs() -> None:
    """The amphora: Octavia's scripts run among dibpy's hooks by their numbers."""
    case = BY_ID["octavia"]
    data = api.plan(case.elements, element_paths=case.element_paths, arch="amd64", env={}).to_dict()
    post_install = [(i["order"], i["element"], i["hook"]) for i in data["phases"]["post-install"]]
    assert (11, "amphora-agent", "11-enable-amphora-agent-systemd") in post_install
    assert (20, "haproxy-octavia", "20-haproxy-tune-kernel") in post_install
    assert post_install == sorted(post_install, key=lambda t: (t[0], t[2], t[1]))
    finalise = [(i["element"], i["hook"]) for i in data["phases"]["finalise"]]
    assert ("rebind-sshd", "98-rebind-sshd-after-dhcp") in finalise
    assert ("no-resolvconf", "99-disable-resolv-conf") in finalise
    root = [(i["element"], i["hook"], i["kind"]) for i in data["phases"]["root"]]
    assert ("pip-cache", "pip_cache", "python") in root  # dibpy's port


# --- what is missing, and why ------------------------------------------------------------


@pytest.fixture
def no_dib(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """diskimage-builder is not importable (``import diskimage_builder`` raises)."""
    monkeypatch.setitem(sys.modules, "diskimage_builder", None)
    yield


@pytest.mark.parametrize("case", SETS, ids=lambda c: c.id)
def test_without_dib_the_first_missing_element_is_named_with_the_fix(
    case: ConsumerSet, no_dib: None
) -> None:
    index = discover(case)
    assert index.has_dib is False
    names = with_defaults(case.elements, case.arch, skip_base=case.skip_base)
    if case.without_dib is None:  # nothing of DIB's in this set: it resolves without DIB
        resolve(names, index)
        return
    name, needed_by = case.without_dib
    with pytest.raises(ElementNotFoundError) as caught:
        resolve(names, index)
    message = str(caught.value)
    needed = f" (needed by {needed_by!r})" if needed_by else ""
    searched = "; ".join(index.searched)
    assert message.startswith(f"Element {name!r}{needed} was not found. Searched: {searched}.")
    assert message.endswith(" Add its directory with --element-path or ELEMENTS_PATH." + DIB_HINT)
    assert "pip install 'dibpy[dib-elements]'" in message
    assert caught.value.element == name


def test_without_dib_the_cli_says_how_to_get_dibs_elements(tmp_path: Path) -> None:
    """The whole command, in a Python where ``import diskimage_builder`` fails."""
    case = BY_ID["bifrost"]
    code = (
        "import sys; sys.modules['diskimage_builder'] = None; "
        "from dibpy.frontends.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *case.argv],
        cwd=tmp_path,
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    error = " ".join(done.stderr.split())
    assert error.startswith("dibpy: error: Element 'simple-init' was not found.")
    assert error.endswith(" ".join(DIB_HINT.split()))
    assert "Traceback" not in done.stderr


def test_an_element_found_nowhere_is_named_with_who_needs_it(tmp_path: Path) -> None:
    """Octavia's keepalived-octavia once needed tripleo-image-elements' os-svc-install
    (2015); with DIB installed, the error names it and the element that asked for it."""
    elements = tmp_path / "octavia"
    shutil.copytree(CONSUMERS / "octavia", elements, symlinks=True)
    (elements / "keepalived-octavia" / "element-deps").write_text(
        "os-svc-install\npackage-installs\n"
    )
    case = BY_ID["octavia"]
    argv = ["plan", "--json", "-a", case.arch, "--element-path", str(elements), *case.elements]
    done = run_dibpy(argv, clean_env(tmp_path), tmp_path)
    assert done.returncode == 2
    error = " ".join(done.stderr.split())
    assert error.startswith(
        "dibpy: error: Element 'os-svc-install' (needed by 'keepalived-octavia') was not "
        f"found. Searched: {elements}; entry points 'dibpy.elements'; "
    )
    assert "(diskimage-builder)" in error  # DIB was searched too: no pip hint then
    assert "pip install" not in error


# --- the table of docs/legacy-elements.md ------------------------------------------------


def table() -> str:
    """One row per consumer set: where each element comes from (a markdown table)."""
    rows = [
        "| set | dibpy's Python elements | DIB's folders (legacy) | stand-ins (legacy) |",
        "| --- | --- | --- | --- |",
    ]
    for case in SETS:
        names = api.plan(
            case.elements,
            element_paths=case.element_paths,
            arch=case.arch,
            skip_base=case.skip_base,
            env={},
        ).elements
        found = origins(case, list(names))
        columns = [
            " ".join(sorted(n for n, o in found.items() if o == kind)) or "-"
            for kind in ("python", "dib", "stand-in")
        ]
        rows.append(f"| `{case.id}` | {' | '.join(columns)} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(table())
