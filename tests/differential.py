"""Differential tests: a Python port against DIB 3.43's own shell element, its oracle.

The same elements are built twice with ``tests/elements/differential-root`` (bash-root, an
OS copied from the host in a second, with a snapshot of the tree after every phase): once
with the ports (the built-in Python elements) and once with DIB's original folders of the
same names forced through ``--element-path``, where they take precedence over the
built-ins. The two builds are compared with ``dibpy diff``'s engine after every phase and as
the finished tar: paths, types, modes, owners, symlink targets, contents; and the installed
packages and enabled systemd units, where the tree has them.

Each port lists the differences it is allowed, with a reason each (``Port.allowed``). A
difference no allowance covers fails, and so does an allowance that covers nothing any more:
the list stays the list of differences that exist. Several ports share one pair of builds
(each build takes a second or two), e.g. as a module-scoped fixture::

    pair = build_pair(tmp_path, [Port("journal-to-console"), Port("epel")], {"DIB_X": "1"})
    assert pair.check() == []

A new port needs its name in a ``Port`` of a pair, and what its DIB original expects of a
tree in ``differential-root`` (bash-root is no full Debian: no dpkg, no systemd, no useradd).
Ports that need a real operating system (packages, users, units) are built ``on=REAL_DEBIAN``:
``debian-minimal`` from the image cache given in ``env_extra`` (a minute per build, warm),
where what changes between any two builds (logs, caches) is ``DEBIAN_VOLATILE``.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from conftest import REPO, clean_env, run_dibpy

from dibpy.tree.diff import Allowance, Comparison, Entry, compare, read_tree

TEST_ELEMENTS = REPO / "tests" / "elements"
FINAL = "final"  # the finished tree, as the tar has it
# Differences made by running DIB's originals through dibpy's legacy runner, whatever the
# element: when a legacy element has scripts, the hooks tree's bin/ gets dibpy's helper
# programs, and install-bin (when in the build) copies them into /usr/local/bin (DIB's own
# helpers land there too); a build of Python elements alone has no helpers to copy.
RUNNER_ALLOWED = tuple(
    Allowance(
        f"/usr/local/bin/{helper}",
        "the legacy runner's helper programs, installed when legacy scripts are in the build",
    )
    for helper in ("cache-url", "install-packages", "package-installs", "pkg-map", "svc-map")
)


# The operating systems a pair is built on: bash-root (a second), or real Debian bookworm.
BASH_ROOT = ("differential-root",)
REAL_DEBIAN = ("debian-minimal", "differential-snapshots")
# What differs between any two builds of a real Debian tree, whatever the elements: these may
# differ, and need not (a pair that installs nothing has no new log lines).
DEBIAN_VOLATILE = (
    Allowance("/boot/initrd.img-*", "an initramfs holds its files' build times", ("sha256",)),
    *(
        Allowance(pattern, "changes between any two builds of a real Debian tree")
        for pattern in (
            "/var/cache/apt/*.bin",
            "/var/log/*",
            "/var/cache/ldconfig/aux-cache",
            "/var/cache/debconf/*",
            "/var/lib/dpkg/*-old",
            "/var/lib/apt/extended_states",
            "/etc/machine-id",
            "/var/lib/dbus/machine-id",
            "/etc/ssh/ssh_host_*",
            "/var/lib/systemd/catalog/database",
            "/var/lib/systemd/deb-systemd-*",
        )
    ),
)


def dib_elements() -> Path:
    """DIB 3.43's elements folder (the installed diskimage-builder, found, not imported)."""
    spec = importlib.util.find_spec("diskimage_builder")
    assert spec is not None and spec.origin is not None, "diskimage-builder is not installed"
    return Path(spec.origin).parent / "elements"


@dataclass(frozen=True)
class Port:
    """A Python element of ``elements/`` and its DIB original of the same name.

    ``oracle_with``: other elements whose DIB originals the original needs to show its
    effect (DIB's ``modprobe`` copies ``disable-nouveau``'s ``modprobe.d/``), forced on the
    DIB side too, so the comparison covers their ports as well. ``allowed``: the
    differences the port may make, each with its reason (docs/migrating.md states the
    intended ones). ``packages_allowed``: packages only one side installs, the pattern
    being the package's name (DIB's install-static installs rsync, the port copies from the
    host)."""

    name: str
    allowed: tuple[Allowance, ...] = ()
    oracle_with: tuple[str, ...] = ()
    packages_allowed: tuple[Allowance, ...] = ()


@dataclass
class Tree:
    """One build: the tree after each phase (``NN-phase``) and the finished tree."""

    states: dict[str, dict[str, Entry]]
    root: Path  # the finished tree, extracted
    elements: tuple[str, ...] = ()  # every element of the build, from its manifest

    @property
    def packages(self) -> set[str]:
        """The installed packages (dpkg's status), empty when the tree has no dpkg."""
        status = self.root / "var/lib/dpkg/status"
        if not status.is_file():
            return set()
        found, name = set(), ""
        for line in status.read_text().splitlines():
            if line.startswith("Package: "):
                name = line.removeprefix("Package: ")
            elif line.startswith("Status: ") and line.endswith(" installed"):
                found.add(name)
        return found

    @property
    def enabled_units(self) -> set[str]:
        """``target.wants/unit`` for every unit enabled under /etc/systemd/system."""
        system = self.root / "etc/systemd/system"
        if not system.is_dir():
            return set()
        return {
            f"{link.parent.name}/{link.name}"
            for link in system.glob("*.wants/*")
            if link.is_symlink() or link.is_file()
        }


@dataclass
class Pair:
    """The ports' build (``ported``) and the originals' (``dib``) of the same elements."""

    ports: tuple[Port, ...]
    ported: Tree
    dib: Tree
    env: Mapping[str, str] = field(default_factory=dict)  # the variables both were built with
    scenario: str = ""  # the test's name for the pair
    volatile: tuple[Allowance, ...] = ()  # may differ, and need not (DEBIAN_VOLATILE)
    comparisons: dict[str, Comparison] = field(default_factory=dict)

    def check(self) -> list[str]:
        """Every problem: an unexpected difference (named with its phase), an allowance
        that covered nothing, a package or unit set that differs. Empty: equal."""
        rules = [
            Allowance(a.pattern, f"{port.name}: {a.reason}", a.fields)
            for port in self.ports
            for a in port.allowed
        ]
        helper = RUNNER_ALLOWED[0].pattern  # only DIB's side has the helpers
        if "install-bin" in self.dib.elements and helper not in self.ported.states.get(FINAL, {}):
            rules += [Allowance(a.pattern, f"{a.pattern}: {a.reason}") for a in RUNNER_ALLOWED]
        used: set[str] = set()
        problems: list[str] = []
        rules += self.volatile
        for state in sorted(self.ported.states.keys() | self.dib.states.keys()):
            mine, theirs = self.ported.states.get(state), self.dib.states.get(state)
            if mine is None or theirs is None:
                problems.append(f"{state}: only one build reached it")
                continue
            result = compare(theirs, mine, rules)
            self.comparisons[state] = result
            used |= {d.allowed_by for d in result.differences if d.allowed_by}
            problems += [f"{state}: {d.describe()}" for d in result.unexpected]
        packages_allowed = {
            a.pattern: f"{port.name}: {a.reason}"
            for port in self.ports
            for a in port.packages_allowed
        }
        differing = self.dib.packages ^ self.ported.packages
        used |= {reason for name, reason in packages_allowed.items() if name in differing}
        rules += [Allowance(name, reason) for name, reason in packages_allowed.items()]
        gone = [r.reason for r in rules if r.reason not in used and r not in self.volatile]
        problems += [f"allowed but no longer happens: {reason}" for reason in gone]
        for what in ("packages", "enabled_units"):
            dib, ported = getattr(self.dib, what), getattr(self.ported, what)
            if what == "packages":
                dib, ported = dib - packages_allowed.keys(), ported - packages_allowed.keys()
            if dib != ported:
                problems.append(
                    f"{what}: DIB's only {dib - ported}, the ports' only {ported - dib}"
                )
        return problems


def force_originals(ports: Iterable[Port], directory: Path) -> Path:
    """A directory holding DIB's folders of the ports (and of their ``oracle_with``)."""
    directory.mkdir(parents=True)
    for name in {n for p in ports for n in (p.name, *p.oracle_with)}:
        shutil.copytree(dib_elements() / name, directory / name, symlinks=True)
    return directory


def build(
    base: Path,
    elements: Sequence[str],
    env_extra: Mapping[str, str],
    element_path: Sequence[Path],
    on: Sequence[str] = BASH_ROOT,
) -> Tree:
    """``dibpy build -n -t tar`` of ``on`` and ``elements``, as a user runs it."""
    snapshots = base / "snapshots"
    snapshots.mkdir(parents=True)
    env = clean_env(base, DIB_NO_TMPFS="1", DIBPY_SNAPSHOT_DIR=str(snapshots), **env_extra)
    paths = [arg for p in [*element_path, TEST_ELEMENTS] for arg in ("--element-path", str(p))]
    args = ["build", "-n", "-t", "tar", "-o", str(base / "image"), "--no-progress", *paths]
    # A real Debian build installs a kernel: minutes on a loaded machine, not seconds.
    timeout = 1200 if "debian-minimal" in on else 120
    result = run_dibpy([*args, *on, *elements], env, base, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    states = {
        path.stem: {k: Entry(**v) for k, v in json.loads(path.read_text()).items()}
        for path in snapshots.glob("*.json")
    }
    states[FINAL] = read_tree(base / "image.tar")
    root = base / "tree"
    with tarfile.open(base / "image.tar") as tar:
        # S202: the tar dibpy has just built; its device nodes need "fully_trusted"
        tar.extractall(root, numeric_owner=True, filter="fully_trusted")  # noqa: S202
    manifest = json.loads((base / "image.manifest.json").read_text())
    return Tree(states, root, tuple(e["name"] for e in manifest["elements"]))


def build_pair(
    base: Path,
    ports: Sequence[Port],
    env_extra: Mapping[str, str] | None = None,
    *,
    on: Sequence[str] = BASH_ROOT,
    extra_elements: Sequence[str] = (),
    element_path: Sequence[Path] = (),
) -> Pair:
    """The two builds of ``ports`` on ``on``, with the variables ``env_extra``, under
    ``base``. ``extra_elements`` (found on ``element_path``, e.g. a test's legacy element
    that uses a port) are in both builds."""
    names = [p.name for p in ports] + list(extra_elements)
    originals = force_originals(ports, base / "dib-originals")
    env = dict(env_extra or {})
    ported = build(base / "ported", names, env, [*element_path], on)
    dib = build(base / "dib", names, env, [originals, *element_path], on)
    volatile = DEBIAN_VOLATILE if "debian-minimal" in on else ()
    return Pair(tuple(ports), ported, dib, env=env, volatile=volatile)
