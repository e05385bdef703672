"""Proof 1 of legacy support: one shell element using every piece of DIB's element contract,
built with the Python `debian-minimal` into a tar, and every effect checked in the tree.

The element `dib-contract` (written by this module as a user would) has element-deps and
element-provides; exported and unexported environment.d variables; a script in every phase,
on the host and in the chroot; `install-packages` called from a hook; package-installs.yaml
entries with phase, uninstall, arch, not-arch and `when`; a pkg-map; a svc-map; static/,
bin/ and init-scripts/; source repositories from a local git repository and from a tarball
served by a local HTTP server; DIB's older `install.d/package-installs-<element>` list;
and a `x.sh` that must not run. Its dependency
`dib-contract-dep` removes, in post-install, a package the contract installs in
pre-install. A duplicate hook name is refused before anything is built.
"""

from __future__ import annotations

import functools
import http.server
import io
import json
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import build_dirs, clean_env, mount_lines, run_dibpy
from test_legacy import write_legacy

pytestmark = [pytest.mark.slow, pytest.mark.root]

RECORD_HOST = "#!/bin/bash\nset -eu\nmkdir -p $TMP_MOUNT_PATH/contract\n{body}\n"
RECORD_CHROOT = "#!/bin/bash\nset -eu\nmkdir -p /contract\n{body}\n"


def git_repository(path: Path) -> None:
    """A local git repository with one file on branch main, and a tag v1 on it."""
    path.mkdir(parents=True)
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "HOME": str(path.parent)}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin"}
    for argv in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "add", "README"],
        ["git", "commit", "-q", "-m", "first"],
        ["git", "tag", "v1"],
    ):
        if argv[1] == "add":
            (path / "README").write_text("from git\n")
        subprocess.run(argv, cwd=path, env=env, check=True)


def tarball(path: Path) -> None:
    """A tarball with one top folder, as projects publish them."""
    data = b"from the tarball\n"
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("project-1.0/VERSION")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    root = tmp_path_factory.mktemp("www")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def contract_elements(directory: Path, git_url: str, tar_url: str) -> None:
    host = {
        "root": "echo root > $TARGET_ROOT/contract/root",
        "extra-data": "echo $CONTRACT_EXPORTED > $TMP_MOUNT_PATH/contract/extra-data",
        "post-root": "echo post-root > $TMP_MOUNT_PATH/contract/post-root",
        "pre-finalise": "echo pre-finalise > $TMP_MOUNT_PATH/contract/pre-finalise",
        "cleanup": "echo cleanup > $TARGET_ROOT/contract/cleanup",
    }
    chroot = {
        "pre-install": "command -v file > /contract/pre-install-file",
        "install": (
            "echo ${CONTRACT_HIDDEN:-unexported} > /contract/install\n"
            "install-packages -m dib-contract tree-viewer\n"
            "svc-map contract-service > /contract/svc-map\n"
            "pkg-map --element dib-contract tree-viewer > /contract/pkg-map\n"
            "contract-tool > /contract/bin-tool"
        ),
        "post-install": "echo post-install > /contract/post-install",
        "finalise": "echo finalise > /contract/finalise",
    }
    files = {
        "README.rst": "============\ndib-contract\n============\nEvery piece of the contract.\n",
        "element-deps": "dib-contract-dep\ninstall-static\nsource-repositories\nsvc-map\n",
        "element-provides": "contract-virtual\n",
        "environment.d/10-contract": (
            "export CONTRACT_EXPORTED=exported\nCONTRACT_HIDDEN=hidden\n"
            "export DIB_CONTRACT_FEATURE=${DIB_CONTRACT_FEATURE:-on}\n"
        ),
        "package-installs.yaml": (
            "hello:\n"
            "file:\n  phase: pre-install.d\n"
            "units:\n  when: DIB_CONTRACT_FEATURE = on\n"
            "sl:\n  when: DIB_CONTRACT_FEATURE = off\n"
            "cowsay:\n  arch: i386\n"
            "bc:\n  not-arch: i386\n"
        ),
        "pkg-map": json.dumps({"family": {"debian": {"tree-viewer": "tree"}}}),
        "svc-map": "contract-service:\n  default: contract-default\n  debian: contract-debian\n",
        "bin/contract-tool": "#!/bin/sh\necho contract tool\n",
        "static/etc/contract/static.conf": "static file\n",
        "init-scripts/systemd/contract.service": "[Service]\nExecStart=/bin/true\n",
        "source-repository-dib-contract": (
            f"contract-git git /opt/contract/git {git_url} v1\n"
            f"contract-tar tar /opt/contract/tar {tar_url} *\n"
        ),
        "install.d/70-x.sh": "#!/bin/bash\ntouch /contract/x-sh-ran\n",
        # DIB's older list form: data, not a script (write_legacy makes *.d/ files executable)
        "install.d/package-installs-dib-contract.noexec": "# older form\n-lsof\n",
    }
    for phase, body in host.items():
        files[f"{phase}.d/50-contract-{phase}"] = RECORD_HOST.format(body=body)
    for phase, body in chroot.items():
        files[f"{phase}.d/50-contract-{phase}"] = RECORD_CHROOT.format(body=body)
    files["root.d/50-contract-root"] = RECORD_HOST.replace("TMP_MOUNT_PATH", "TARGET_ROOT").format(
        body=host["root"]
    )
    write_legacy(directory, "dib-contract", files)
    write_legacy(
        directory,
        "dib-contract-dep",
        {"package-installs.yaml": "file:\n  phase: post-install.d\n  uninstall: true\n"},
    )
    for path in (directory / "dib-contract").rglob("*"):
        if path.parent.name in ("bin",) or path.name.endswith(".sh"):
            path.chmod(0o755)


@pytest.fixture(scope="module")
def contract_tar(
    tmp_path_factory: pytest.TempPathFactory, served: tuple[Path, str]
) -> tuple[Path, tarfile.TarFile]:
    base = tmp_path_factory.mktemp("contract")
    www, url = served
    git_repository(base / "repo")
    tarball(www / "project-1.0.tar.gz")
    contract_elements(base / "elements", f"file://{base / 'repo'}", f"{url}/project-1.0.tar.gz")
    env = clean_env(base, DIB_RELEASE="bookworm")
    result = run_dibpy(
        [
            *("build", "-t", "tar", "-o", str(base / "contract")),
            *("--element-path", str(base / "elements")),
            *("debian-minimal", "dib-contract"),
        ],
        env,
        base,
        timeout=1500,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert mount_lines(base) == [] and build_dirs(base / "tmp") == []
    return base, tarfile.open(base / "contract.tar")


def read(tar: tarfile.TarFile, name: str) -> str:
    member = tar.extractfile(f"./{name}")
    assert member is not None, name
    return member.read().decode()


def installed(tar: tarfile.TarFile) -> set[str]:
    status = read(tar, "var/lib/dpkg/status")
    packages, name = set(), ""
    for line in status.splitlines():
        if line.startswith("Package: "):
            name = line.split()[1]
        if line == "Status: install ok installed":
            packages.add(name)
    return packages


def test_every_phase_ran_where_dib_runs_it(contract_tar: tuple[Path, tarfile.TarFile]) -> None:
    _, tar = contract_tar
    for phase in ("root", "post-root", "pre-finalise", "post-install", "finalise", "cleanup"):
        assert read(tar, f"contract/{phase}").strip() == phase
    assert read(tar, "contract/extra-data").strip() == "exported"
    assert read(tar, "contract/install").strip() == "unexported"  # not exported: not seen
    assert "./contract/x-sh-ran" not in tar.getnames()  # x.sh does not match dib-run-parts


def test_packages_by_phase_uninstall_arch_and_when(
    contract_tar: tuple[Path, tarfile.TarFile],
) -> None:
    _, tar = contract_tar
    packages = installed(tar)
    assert {"hello", "units", "bc", "tree"} <= packages  # when on (from environment.d)
    assert "lsof" in packages  # install.d/package-installs-dib-contract, DIB's older form
    assert not {"sl", "cowsay"} & packages  # when off; other arch
    # file: installed in pre-install (a pre-install script found it), removed in post-install
    assert read(tar, "contract/pre-install-file").strip().endswith("/file")
    assert "file" not in packages


def test_pkg_map_svc_map_and_bin(contract_tar: tuple[Path, tarfile.TarFile]) -> None:
    _, tar = contract_tar
    assert read(tar, "contract/pkg-map").strip() == "tree"
    assert read(tar, "contract/svc-map").strip() == "contract-debian"
    assert read(tar, "contract/bin-tool").strip() == "contract tool"
    tool = tar.getmember("./usr/local/bin/contract-tool")
    assert tool.mode & 0o777 == 0o755 and tool.uid == 0


def test_static_and_init_scripts(contract_tar: tuple[Path, tarfile.TarFile]) -> None:
    _, tar = contract_tar
    assert read(tar, "etc/contract/static.conf") == "static file\n"
    assert "ExecStart=/bin/true" in read(tar, "usr/lib/systemd/system/contract.service")


def test_source_repositories_from_git_and_a_tarball(
    contract_tar: tuple[Path, tarfile.TarFile],
) -> None:
    _, tar = contract_tar
    assert read(tar, "opt/contract/git/README") == "from git\n"
    assert read(tar, "opt/contract/tar/VERSION") == "from the tarball\n"


def test_a_duplicate_hook_name_is_refused(contract_tar: tuple[Path, tarfile.TarFile]) -> None:
    base, _ = contract_tar
    write_legacy(
        base / "elements", "dib-contract-twin", {"install.d/50-contract-install": "#!/bin/sh\n"}
    )
    result = run_dibpy(
        [
            *("build", "-t", "tar", "-o", str(base / "twin")),
            *("--element-path", str(base / "elements")),
            *("debian-minimal", "dib-contract", "dib-contract-twin"),
        ],
        clean_env(base, DIB_RELEASE="bookworm"),
        base,
    )
    assert result.returncode == 2
    assert "duplicated hook" in result.stderr and "install.d/50-contract-install" in result.stderr
    assert not (base / "twin.tar").exists()
