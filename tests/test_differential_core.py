"""The ports every consumer's image has (install-static, source-repositories, svc-map,
install-types, install-bin) against DIB 3.43's originals (tests/differential.py).

Each port is made to show its effect by a legacy test element built on both sides
(``tests/elements/uses-*``), so the two builds differ only in the port against the
original: a ``static/`` tree with odd modes, symlinks and names rsync's ``-C`` skips; two
``source-repository-*`` lines whose location and ref ``DIB_REPOLOCATION_*`` and
``DIB_REPOREF_*`` replace with a local git repository; an ``svc-map`` file and a script
calling ``svc-map`` in the chroot; ``install.d/<prefix>-<type>-install/`` folders chosen by
``DIB_INSTALLTYPE_widget`` and the default; a ``bin/`` program a script runs; a ``/boot``
with two kernels and initramfs for baremetal, whose ``NAME.vmlinuz`` and ``NAME.initrd``
beside the image are compared too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import REPO, dibpy_show
from differential import FINAL, Pair, Port, build, build_pair, dib_elements
from root_helpers import needs_root

from dibpy.tree.diff import Allowance

GIT_DIRS = ("/opt/demo/.git", "/opt/demo-stable/.git")
PORTS = {
    port.name: port
    for port in (
        Port(
            "install-static",
            packages_allowed=(
                Allowance(
                    "rsync",
                    "DIB copies static/ with rsync in the chroot; the port copies "
                    "from the host and installs nothing",
                ),
            ),
        ),
        Port("install-types"),
        Port("install-bin"),
        Port("baremetal"),
        Port(
            "pip-cache",
            allowed=(
                Allowance(
                    "/tmp/pip",
                    "the port's mount is released with the tree phases' mounts, leaving its "
                    "empty mount point; DIB's, made by its script, stays mounted (and out of "
                    "the snapshots) until the end; both images have an empty /tmp",
                ),
            ),
        ),
        Port("ensure-venv"),
        Port(
            "svc-map",
            allowed=(
                Allowance(
                    "/tmp/svc-map-services",
                    "DIB's merge leaves its scratch file in the "
                    "image's /tmp until the build empties it; the port merges in memory",
                ),
                Allowance(
                    "/usr/local/bin/dib-python",
                    "DIB's svc-map depends on dib-python "
                    "for its Python program; the port's program is bash",
                ),
                *(
                    Allowance(
                        path,
                        "the apt-get stand-in's record of PyYAML and python3, "
                        "installed by DIB's before pre-install's end",
                    )
                    for path in ("/var", "/var/lib", "/var/lib/dpkg", "/var/lib/dpkg/status")
                ),
                Allowance(
                    "/usr/local/bin/svc-map",
                    "DIB's program is Python reading the YAML "
                    "map; the port's is bash reading the merged flat map (a minimal tree "
                    "has no Python); both print the same names",
                    ("sha256", "size"),
                ),
            ),
            packages_allowed=(
                Allowance("python3-yaml", "PyYAML, for DIB's Python svc-map program"),
                Allowance("python3", "dib-python's, which DIB's svc-map depends on"),
            ),
        ),
        Port(
            "source-repositories",
            allowed=(
                *(
                    Allowance(
                        f"{git}/{name}",
                        "the clone's origin is the build's cache, and "
                        "each build of the pair has its own",
                        ("sha256", "size"),
                    )
                    for git in GIT_DIRS
                    for name in ("config", "FETCH_HEAD")
                ),
                *(
                    Allowance(f"{git}/{name}", "git's timestamps and stat data", ("sha256", "size"))
                    for git in GIT_DIRS
                    for name in ("index", "logs/*")
                ),
                *(
                    Allowance(
                        f"{git}/objects/*",
                        "the port clones with --no-hardlinks: the "
                        "objects are copies (0644), not links to the cache's (0444)",
                        ("mode",),
                    )
                    for git in GIT_DIRS
                ),
                *(
                    Allowance(
                        f"{git}/packed-refs",
                        "the port's cache is a bare clone with every "
                        "upstream branch, so origin/* in the image lists them all; DIB's "
                        "cache is a checkout, whose origin/* has the default branch and the "
                        "fetched ref",
                        ("sha256", "size"),
                    )
                    for git in GIT_DIRS
                ),
            ),
        ),
    )
}
CONSUMERS = (
    "uses-install-static",
    "uses-install-types",
    "uses-install-bin",
    "uses-svc-map",
    "uses-source-repositories",
    "uses-baremetal",
    "uses-pip-cache",
)
GIT_ENV = {
    "PATH": os.environ["PATH"],
    "HOME": "/nonexistent",
    "GIT_CONFIG_NOSYSTEM": "1",
    **{
        f"GIT_{who}_{what}": value
        for who in ("AUTHOR", "COMMITTER")
        for what, value in (
            ("NAME", "t"),
            ("EMAIL", "t@example.invalid"),
            ("DATE", "2020-01-01T00:00:00Z"),
        )
    },
}


def git(*args: str | Path) -> str:
    done = subprocess.run(
        ["git", *map(str, args)], env=GIT_ENV, check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


def upstream(path: Path) -> Path:
    """A git repository: README "one" tagged v1 and branch stable, "two" on master."""
    git("init", "-q", "-b", "master", path)
    (path / "README").write_text("one\n")
    git("-C", path, "add", ".")
    git("-C", path, "commit", "-q", "-m", "one")
    git("-C", path, "tag", "v1")
    git("-C", path, "branch", "stable")
    (path / "README").write_text("two\n")
    git("-C", path, "commit", "-q", "-am", "two")
    return path


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    base = tmp_path_factory.mktemp("core")
    repo = upstream(base / "upstream")
    env = {
        "DIB_INSTALLTYPE_widget": "package",
        "DIB_REPOLOCATION_demo": str(repo),
        "DIB_REPOREF_demo": "v1",
        "DIB_REPOLOCATION_demo_stable": str(repo),
    }
    return build_pair(base, list(PORTS.values()), env, extra_elements=CONSUMERS)


@pytest.mark.root
@needs_root
def test_each_core_port_builds_the_tree_of_its_dib_original(pair: Pair) -> None:
    problems = pair.check()
    assert problems == [], "left: DIB's original, right: the port\n" + "\n".join(problems)


# (path, mode or None, content or link target): the finished tree, both sides.
EVIDENCE = [
    ("/etc/dib-static/plain.conf", 0o600, "plain\n"),
    ("/etc/dib-static/run.sh", 0o755, "echo run"),  # setuid dropped, as rsync without -p
    ("/etc/dib-static/sub", 0o700, None),
    ("/etc/dib-static/group-writable", 0o755, None),  # 0775 less the umask
    ("/etc/dib-static/group-writable/file", 0o644, "x\n"),
    ("/etc/dib-static/link", None, "plain.conf"),
    ("/usr/local/share/dib-static/absolute-link", None, "/etc/dib-static/sub"),
    ("/etc/existing.conf", 0o600, "from static/\n"),  # an image file keeps its mode
    ("/etc/widget-install-type", 0o644, "package\n"),
    ("/etc/other-install-type", 0o644, "source\n"),
    ("/usr/local/bin/demo-tool", 0o755, "demo-tool ran"),
    ("/etc/demo-tool-ran", 0o644, "demo-tool ran with here\n"),
    ("/etc/demo-services", 0o644, "demo-agent-debian\napache2\ndemo-plain\ndemo-installed\n"),
    ("/usr/share/svc-map/services", 0o644, "demo-agent: demo-agent-debian\n"),
    ("/opt/demo/README", 0o644, "one\n"),  # DIB_REPOREF_demo=v1, not the line's master
    ("/opt/demo-stable/README", 0o644, "one\n"),  # DIB_REPOLOCATION_demo_stable
    ("/etc/dib-source-repositories", 0o644, "/opt/demo\n/opt/demo-stable\n"),
    ("/etc/dib-manifests/dib-manifest-git-image", 0o644, "demo git /opt/demo "),
    ("/etc/pip-download-cache", 0o644, "/tmp/pip\n"),
]
SKIPPED = ["libx.so", "old.bak", "core", "notes~", ".git", "CVS", "sub/listed.txt"]


@pytest.mark.root
@needs_root
@pytest.mark.parametrize("side", ["ported", "dib"])
def test_the_trees_hold_the_elements_work(pair: Pair, side: str) -> None:
    tree = getattr(pair, side)
    for path, mode, expected in EVIDENCE:
        host = tree.root / path.lstrip("/")
        entry = tree.states[FINAL][path]
        if mode is None:
            assert entry.type == "symlink" and entry.target == expected, path
            continue
        assert entry.mode == mode, (path, oct(entry.mode))
        if expected is not None:
            assert expected in host.read_text(), path
    for name in SKIPPED:
        assert f"/etc/dib-static/{name}" not in tree.states[FINAL], name
    # pip's download went to the image cache, through the mount, not into the image
    assert (tree.root.parent / "cache/pip/demo-1.0.tar.gz").read_text() == "downloaded\n"
    assert not any("demo-1.0" in path for state in tree.states.values() for path in state)


@pytest.mark.root
@needs_root
def test_each_side_ran_its_own_element(pair: Pair) -> None:
    """The ports came from elements/, the originals from DIB's folders (svc-map's folder,
    with its empty __init__.py, as a legacy element)."""
    for tree, kind in ((pair.ported, "built-in"), (pair.dib, "path")):
        manifest = json.loads((tree.root.parent / "image.manifest.json").read_text())
        origins = {e["name"]: e["origin"] for e in manifest["elements"]}
        hooks = {(h["element"], h["hook"]) for h in manifest["hooks"]}
        assert {origins[name] for name in PORTS} == {kind}
        if kind == "path":
            assert ("svc-map", "10-merge-svc-map-files") in hooks
            assert ("install-static", "10-install-static-files") in hooks
    assert pair.dib.packages - pair.ported.packages == {"rsync", "python3-yaml", "python3"}
    assert {"git", "curl", "python3-venv"} <= pair.ported.packages


@pytest.mark.root
@needs_root
def test_baremetal_writes_the_newest_kernel_and_initrd_beside_the_image_as_dib(
    pair: Pair,
) -> None:
    for suffix, content in (
        ("vmlinuz", "kernel 6.1.0-10-amd64\n"),
        ("initrd", "initramfs 6.1.0-10-amd64\n"),
    ):
        written = {}
        for side in ("ported", "dib"):
            path = getattr(pair, side).root.parent / f"image.{suffix}"
            written[side] = (path.read_text(), path.stat().st_mode & 0o7777, path.stat().st_uid)
        assert written["ported"] == written["dib"] == (content, 0o644, 0)
    manifest = json.loads((pair.ported.root.parent / "image.manifest.json").read_text())
    listed = {Path(o["path"]).name: o["format"] for o in manifest["outputs"]}
    assert listed == {"image.tar": "tar", "image.vmlinuz": "vmlinuz", "image.initrd": "initrd"}


# --- debian: its own effect, without debian-minimal's debootstrap ------------------------
# DIB's debian depends on debian-minimal (debootstrap), which bash-root cannot be. Both sides
# build the element as it is with its dependencies left out: DIB's folder without
# element-deps, the port's module without DEPENDS, both named debian-nodeps, each with the
# same consumer (tests/elements/uses-debian: dpkg and adduser stand-ins, and package-installs,
# which debian-minimal brings).
DEBIAN_PORTS = (Port("debian"),)
OWN_PAIR_PORTS = DEBIAN_PORTS  # tests/test_differential.py lists them in the docs check
DEBIAN_SCENARIOS = {"bookworm": {}, "wheezy": {"DIB_RELEASE": "wheezy"}}


def debian_without_dependencies(base: Path) -> tuple[Path, Path]:
    """(the port's folder, DIB's folder), each holding a ``debian-nodeps`` element."""
    ported, dib = base / "port-nodeps", base / "dib-nodeps"
    ported.mkdir()
    text = (REPO / "elements" / "debian.py").read_text()
    depends = 'DEPENDS = ["debian-minimal", "openssh-server", "sysprep"]\n'
    assert depends in text
    (ported / "debian-nodeps.py").write_text(text.replace(depends, "DEPENDS: list[str] = []\n"))
    shutil.copytree(
        dib_elements() / "debian",
        dib / "debian-nodeps",
        ignore=shutil.ignore_patterns("element-deps", "test-elements"),
    )
    return ported, dib


@pytest.fixture(scope="module", params=list(DEBIAN_SCENARIOS))
def debian_pair(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Pair:
    base = tmp_path_factory.mktemp(f"debian-{request.param}")
    ported_path, dib_path = debian_without_dependencies(base)
    env = DEBIAN_SCENARIOS[request.param]
    names = ["debian-nodeps", "uses-debian"]
    ported = build(base / "ported", names, env, [ported_path])
    dib = build(base / "dib", names, env, [dib_path])
    return Pair(DEBIAN_PORTS, ported, dib, env=env, scenario=request.param)


@pytest.mark.root
@needs_root
def test_debian_builds_the_tree_of_its_dib_original(debian_pair: Pair) -> None:
    problems = debian_pair.check()
    assert problems == [], "left: DIB's original, right: the port\n" + "\n".join(problems)
    cloud = {"cloud-init", "cloud-utils", "cloud-initramfs-growroot", "isc-dhcp-client", "cron"}
    assert cloud <= debian_pair.ported.packages
    calls = (debian_pair.ported.root / "var/lib/dpkg/stand-in-calls").read_text()
    sudoers = debian_pair.ported.root / "etc/sudoers.d/debian-cloud-init"
    pin = debian_pair.ported.root / "etc/apt/preferences.d/sysvinit"
    if debian_pair.scenario == "wheezy":  # sysvinit kept, the helper user, no netplan
        assert calls.startswith("adduser --gecos Debian-cloud-init-user --disabled-password")
        assert "dpkg" not in calls and not pin.exists()
        assert sudoers.read_text() == "debian ALL=(ALL) NOPASSWD:ALL\n"
        assert sudoers.stat().st_mode & 0o7777 == 0o440
        assert "netplan.io" not in debian_pair.ported.packages
    else:
        assert calls == "dpkg --purge --force remove-essential sysvinit\n"
        assert pin.read_text() == 'Package: sysvinit\nPin: origin ""\nPin-Priority: -1\n'
        assert not sudoers.exists()
        assert {"systemd-sysv", "netplan.io"} <= debian_pair.ported.packages


# --- documentation: every port of this module, as the CLI shows it -----------------------
SHOWN = {
    "install-static": "install:\n    10  install_static_files",
    "install-types": "DIB_DEFAULT_INSTALLTYPE (str, default 'source')",
    "install-bin": "pre-install:\n    01  install_bin",
    "svc-map": "extra-data:\n    10  merge_svc_map_files",
    "source-repositories": "DIB_GITREPOBASE (str, default '')",
    "baremetal": "DIB_BAREMETAL_KERNEL_PATTERN (str, default '')",
    "debian": "DIB_DEBIAN_ALT_INIT_PACKAGE (str, default '')",
    "pip-cache": "root:\n    11  pip_cache",
    "ensure-venv": "PACKAGES:   python3-venv",
}


def test_every_port_here_is_shown() -> None:
    assert set(SHOWN) == set(PORTS) | {"debian"}
    for name, said in SHOWN.items():
        shown = dibpy_show(name)
        assert f"{name}  (built-in " in shown
        assert said in shown, (name, shown)
