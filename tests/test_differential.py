"""Each Python port builds the tree its DIB 3.43 original builds (tests/differential.py).

Four pairs of builds hold every port: Debian (``bash-root``'s distribution) with DIB's
defaults; Debian with ``DIB_PYTHON_VERSION=3``, where both dib-pythons install python3 (with
its default, DIB's picks python2, which is gone, and fails: docs/migrating.md); Ubuntu with
every variable the ports read set (upstart for enable-serial-console); and openrc. The trees
are compared after every phase and finished. bash-root has no dpkg and no systemd: the
package set is what the tree's apt-get stand-in was asked to install, and no tree has
enabled units (the check is made all the same, and the file comparison covers /etc/systemd
when a tree has it).
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import REPO
from differential import FINAL, Pair, Port, Tree, build_pair, dib_elements
from root_helpers import needs_root

from dibpy.tree.diff import Allowance, Entry

# The ports and the differences each may make from its DIB original (none so far: the
# intended differences, in docs/migrating.md, show only where DIB's original fails).
PORTS = {
    port.name: port
    for port in (
        Port("element-manifest"),
        Port("epel"),
        Port("selinux-permissive"),
        Port("disable-nouveau", oracle_with=("modprobe",)),
        Port("journal-to-console"),
        Port("dib-python"),
        Port("stable-interface-names"),
        Port("enable-serial-console"),
    )
}
UBUNTU_SETTINGS = {
    "DISTRO_NAME": "ubuntu",
    "DIB_RELEASE": "noble",
    "DIB_ELEMENT_MANIFEST_PATH": "/var/lib/built-from/elements",
    "DIB_MODPROBE_BLACKLIST": "floppy pcspkr",
    "DIB_EPEL_DISABLED": "1",
    "DIB_EPEL_MIRROR": "http://mirror.example/pub/epel",
    "DIB_PYTHON_VERSION": "3",
    "DIB_INIT_SYSTEM": "upstart",
}
# (state, path, expected): a file's content holds ``expected`` (finished tree only), a
# link points at it, or with None the path is absent. Proof that the equal trees are the
# elements' work, not two trees alike for doing nothing.
Evidence = tuple[str, str, str | None]
DIB_PYTHON_LINK: list[Evidence] = [
    ("02-pre-install", "/usr/local/bin/dib-python", "/usr/bin/python3"),
    (FINAL, "/usr/local/bin/dib-python", None),
]


@dataclass(frozen=True)
class Scenario:
    ports: tuple[str, ...]
    env: dict[str, str]
    evidence: list[Evidence]
    packages: frozenset[str]  # what the tree's apt-get stand-in was asked to install


SCENARIOS = {
    "debian": Scenario(
        tuple(name for name in PORTS if name != "dib-python"),
        {},
        [
            (FINAL, "/etc/dib-manifests/dib-element-manifest", "\njournal-to-console\n"),
            (FINAL, "/etc/modprobe.d/disable-nouveau.conf", "blacklist nouveau\noptions"),
            (FINAL, "/etc/systemd/journald.conf.d/log-to-console.conf", "ForwardToConsole=true"),
            (FINAL, "/etc/selinux/config", "SELINUX=permissive\n"),
            (FINAL, "/etc/udev/rules.d/80-net-name-slot.rules", None),
            (FINAL, "/etc/udev/rules.d/99-serial-console.rules", "getty@$name.service"),
        ],
        frozenset({"biosdevname"}),
    ),
    "debian-python3": Scenario(
        ("dib-python",), {"DIB_PYTHON_VERSION": "3"}, DIB_PYTHON_LINK, frozenset({"python3"})
    ),
    "ubuntu-settings": Scenario(
        tuple(PORTS),
        UBUNTU_SETTINGS,
        [
            *DIB_PYTHON_LINK,
            (FINAL, "/var/lib/built-from/elements", "\ndib-python\n"),
            (FINAL, "/etc/modprobe.d/blacklist.conf", "blacklist floppy\nblacklist pcspkr\n"),
            (FINAL, "/etc/init/ttySx.conf", "exec /sbin/agetty -m ttyS$console_port"),
            (FINAL, "/etc/udev/rules.d/99-serial-console.rules", None),
        ],
        frozenset({"biosdevname"}),
    ),
    "openrc": Scenario(
        ("enable-serial-console",),
        {"DIB_INIT_SYSTEM": "openrc", "DIB_BOOTLOADER_SERIAL_CONSOLE": "hvc1"},
        [
            (FINAL, "/etc/inittab", "\ns1:12345:respawn:/sbin/agetty -L 115200 ttyS1 vt100\n"),
            (FINAL, "/etc/inittab", "\n#c2:2345:respawn"),
            (
                FINAL,
                "/etc/inittab",
                "console\ns0:12345:respawn:/sbin/agetty -L 115200 hvc1 vt100\n",
            ),
        ],
        frozenset(),
    ),
}


@pytest.fixture(scope="module", params=list(SCENARIOS))
def pair(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Pair:
    scenario = SCENARIOS[request.param]
    pair = build_pair(
        tmp_path_factory.mktemp(request.param), [PORTS[n] for n in scenario.ports], scenario.env
    )
    pair.scenario = request.param
    return pair


@pytest.mark.root
@needs_root
def test_each_port_builds_the_tree_of_its_dib_original(pair: Pair) -> None:
    problems = pair.check()
    assert problems == [], "left: DIB's original, right: the port\n" + "\n".join(problems)
    assert len(pair.comparisons) == 11  # ten phases and the finished tree


@pytest.mark.root
@needs_root
def test_the_trees_hold_the_elements_work(pair: Pair) -> None:
    """Equal trees are the elements' work, not two trees alike for doing nothing."""
    for state, path, expected in SCENARIOS[pair.scenario].evidence:
        entry = pair.ported.states[state].get(path)
        if expected is None:
            assert entry is None, (state, path)
        elif entry is not None and entry.type == "symlink":
            assert entry.target == expected, (state, path)
        else:
            assert state == FINAL and entry is not None, (state, path)
            assert expected in (pair.ported.root / path.lstrip("/")).read_text(), (state, path)


@pytest.mark.root
@needs_root
def test_packages_and_units_are_compared(pair: Pair) -> None:
    assert pair.ported.packages == pair.dib.packages == SCENARIOS[pair.scenario].packages
    assert pair.ported.enabled_units == pair.dib.enabled_units == set()


@pytest.mark.root
@needs_root
def test_each_side_built_what_it_says(pair: Pair) -> None:
    """The ports came from elements/, the originals from DIB's folders forced on the path."""
    names = {n for p in pair.ports for n in (p.name, *p.oracle_with)}
    for tree, kind in ((pair.ported, "built-in"), (pair.dib, "path")):
        manifest = json.loads((tree.root.parent / "image.manifest.json").read_text())
        origins = {e["name"]: (e["origin"], e["location"]) for e in manifest["elements"]}
        for name in names:
            origin, location = origins[name]
            assert origin == kind, name
            if kind == "path":  # a copy of the installed diskimage-builder's folder
                assert Path(location).parent.name == "dib-originals"
                assert dir_digest(Path(location)) == dir_digest(dib_elements() / name)
            else:
                assert REPO / "elements" in Path(location).parents, location


def dir_digest(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


# --- the harness itself, on trees made by hand ------------------------------------------


def tree(tmp_path: Path, name: str, states: dict[str, dict[str, Entry]]) -> Tree:
    (tmp_path / name).mkdir()
    return Tree(states, tmp_path / name)


FILE = Entry("file", 0o644, 0, 0, sha256="a")


def test_an_undocumented_difference_fails(tmp_path: Path) -> None:
    ported = tree(tmp_path, "p", {"01-root": {"/etc/x": FILE}})
    dib = tree(tmp_path, "d", {"01-root": {"/etc/x": Entry("file", 0o600, 0, 0, sha256="a")}})
    problems = Pair((Port("x"),), ported, dib).check()
    assert problems == ["01-root: /etc/x: mode 0600 != 0644"]


def test_an_allowed_difference_passes_and_one_gone_fails(tmp_path: Path) -> None:
    allowed = Allowance("/etc/x", "the port keeps the mode", ("mode",))
    ported = tree(tmp_path, "p", {"01-root": {"/etc/x": FILE}})
    dib = tree(tmp_path, "d", {"01-root": {"/etc/x": Entry("file", 0o600, 0, 0, sha256="a")}})
    assert Pair((Port("x", (allowed,)),), ported, dib).check() == []
    same = tree(tmp_path, "same", {"01-root": {"/etc/x": FILE}})
    assert Pair((Port("x", (allowed,)),), ported, same).check() == [
        "allowed but no longer happens: x: the port keeps the mode"
    ]


def test_packages_and_units_that_differ_fail(tmp_path: Path) -> None:
    ported = tree(tmp_path, "p", {})
    dib = tree(tmp_path, "d", {})
    (dib.root / "var/lib/dpkg").mkdir(parents=True)
    (dib.root / "var/lib/dpkg/status").write_text(
        "Package: python3\nStatus: install ok installed\n\nPackage: gone\nStatus: deinstall ok "
        "config-files\n"
    )
    (dib.root / "etc/systemd/system/multi-user.target.wants").mkdir(parents=True)
    (dib.root / "etc/systemd/system/multi-user.target.wants/ssh.service").symlink_to("/x")
    problems = Pair((), ported, dib).check()
    assert problems == [
        "packages: DIB's only {'python3'}, the ports' only set()",
        "enabled_units: DIB's only {'multi-user.target.wants/ssh.service'}, the ports' only set()",
    ]


def proved_ports() -> set[str]:
    """The ports of every differential test module (``tests/test_differential*.py``): its
    ``PORTS``, and its ``OWN_PAIR_PORTS``, those proved on pairs of their own."""
    names: set[str] = set()
    for path in sorted((REPO / "tests").glob("test_differential*.py")):
        module = importlib.import_module(path.stem)
        names |= set(module.PORTS) | {p.name for p in getattr(module, "OWN_PAIR_PORTS", ())}
    return names


def test_docs_list_every_port_the_harness_proves() -> None:
    text = (REPO / "docs" / "migrating.md").read_text()
    section = text.split("## DIB's elements ported to Python, and how they differ")[1]
    rows = {
        line.split("`")[1] for line in section.split("\n## ")[0].splitlines() if line[:3] == "| `"
    }
    assert rows == proved_ports()
    assert {"journal-to-console", "devuser"} <= rows  # both modules' ports are there


def test_dibpy_elements_lists_every_proved_port_as_python() -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "dibpy", "elements"], capture_output=True, text=True, check=True
    ).stdout
    kinds = {line.split()[0]: line.split()[1] for line in listed.splitlines() if line.strip()}
    assert {name: kinds.get(name) for name in proved_ports()} == dict.fromkeys(
        proved_ports(), "python"
    )
