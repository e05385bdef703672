"""Whole builds through the CLI, as root: the tree phases' mounts, undo, failure and signals.

A tiny operating-system element written here builds a busybox tree (with fake apt-get and
dpkg-query, so the dpkg and base elements' apt calls succeed) and is built with the real
``base`` and ``dpkg`` elements. The Ubuntu element is built against a local HTTP mirror that
serves images made in the tests.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import signal
import stat
import subprocess
import tarfile
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fetch_helpers import Upstream, closed_port
from pytest_httpserver import HTTPServer
from root_helpers import (
    REAL_SSD,
    build_dirs,
    build_env,
    describe,
    dibpy_argv,
    force_unmount,
    kept_build_dir,
    kill_rooted_in,
    make_busybox_tree,
    mounts_under,
    needs_busybox,
    needs_root,
    parent_of,
    processes_rooted_in,
    remove_tree,
    run_build,
    tar_names,
    tar_text,
)
from werkzeug import Request, Response

pytestmark = [pytest.mark.root, needs_root, needs_busybox]

PROXY = "http://proxy.invalid:3128"

TINY_OS = textwrap.dedent(
    '''
    """A busybox operating system for dibpy's root-phase tests."""

    import json
    import os
    import shutil
    from pathlib import Path

    from dibpy import BuildContext, install_hook, post_root_hook, root_hook

    PROVIDES = ["operating-system"]
    DEPENDS = ["dpkg"]

    FAKE_TOOL = {fake_tool!r}
    REAL_SSD = {real_ssd!r}


    @root_hook(order=5)
    def make_tree(ctx: BuildContext) -> None:
        root = ctx.target_root
        for folder in ("bin", "etc", "proc", "sys", "dev", "root", "sbin", "usr/bin",
                       "usr/sbin", "var/log"):
            (root / folder).mkdir(parents=True, exist_ok=True)
        (root / "tmp").mkdir(exist_ok=True)
        (root / "tmp").chmod(0o1777)
        shutil.copy2("/bin/busybox", root / "bin/busybox")
        for applet in ("sh", "sleep", "cat", "echo"):
            (root / "bin" / applet).symlink_to("busybox")
        (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\\n")
        (root / "etc/os-release").write_text("ID=tiny\\n")
        for tool in ("usr/bin/apt-get", "usr/bin/dpkg-query"):
            (root / tool).write_text(FAKE_TOOL)
            (root / tool).chmod(0o755)
        (root / "sbin/start-stop-daemon").write_text(REAL_SSD)
        (root / "sbin/start-stop-daemon").chmod(0o755)


    @post_root_hook(order=50)
    def record_mounts(ctx: BuildContext) -> None:
        """Record what is mounted in the build directory while the tree phases run."""
        record = ctx.env.get("TINY_RECORD")
        if not record:
            return
        lines = [
            line for line in Path("/proc/self/mountinfo").read_text().splitlines()
            if str(ctx.build_dir) in line
        ]
        listing = {{
            name: sorted(os.listdir(ctx.target_root / name))
            for name in ("tmp/ccache", "var/cache/apt/archives")
            if (ctx.target_root / name).is_dir()
        }}
        Path(record).write_text(json.dumps({{"mountinfo": lines, "listing": listing}}))


    @install_hook(order=50)
    def fail_on_request(ctx: BuildContext) -> None:
        if ctx.env.get("TINY_FAIL"):
            raise RuntimeError("tiny failure on purpose")


    @install_hook(order=55)
    def leave_a_mount_on_request(ctx: BuildContext) -> None:
        """A buggy hook: mounts under tmp without ctx.bind_mount, and never unmounts."""
        source = ctx.env.get("TINY_LEAK_MOUNT")
        if source:
            target = ctx.target_root / "tmp/leak"
            target.mkdir(parents=True, exist_ok=True)
            ctx.run(["mount", "--bind", source, target])


    @install_hook(order=60)
    def sleep_on_request(ctx: BuildContext) -> None:
        marker = ctx.env.get("TINY_SLEEP_MARKER")
        if marker:
            Path(marker).write_text(str(ctx.build_dir))
            ctx.chroot.run(["/bin/sleep", "60"])
    '''
).format(fake_tool='#!/bin/sh\necho "fake $0 $*"\n', real_ssd=REAL_SSD)


@pytest.fixture
def elements(tmp_path: Path) -> Path:
    folder = tmp_path / "elements"
    folder.mkdir()
    (folder / "tinyos.py").write_text(TINY_OS)
    return folder


@pytest.fixture
def clean(tmp_path: Path) -> Iterator[list[Path]]:
    """After the test: nothing mounted under tmp_path, and kept build dirs removed.

    A test appends the build directories it expects to be kept; any other one is an error.
    """
    expected: list[Path] = []
    yield expected
    leftover_processes = kill_rooted_in(tmp_path)
    leftover_mounts = force_unmount(tmp_path)
    for kept in expected:
        remove_tree(kept)
    unexpected = build_dirs(tmp_path / "builds")
    for extra in unexpected:
        remove_tree(extra)
    assert leftover_processes == [], f"still running in the tree: {leftover_processes}"
    assert leftover_mounts == [], f"still mounted: {leftover_mounts}"
    assert unexpected == [], f"build directories left behind: {unexpected}"


def mount_point_of(line: str) -> str:
    return line.split(" ")[4]


# --- a: the tree mounts, and the undo of the dpkg settings ----------------------------------


def test_tree_mounts_are_real_during_the_build_and_gone_after(
    tmp_path: Path, elements: Path, clean: list[Path]
) -> None:
    cache = tmp_path / "cache"
    (cache / "ccache").mkdir(parents=True)
    (cache / "ccache/seed").write_text("ccache seed")
    (cache / "apt/debian").mkdir(parents=True)
    (cache / "apt/debian/seed_1.0_all.deb").write_text("deb seed")
    record = tmp_path / "mounts.json"
    env = build_env(tmp_path, TINY_RECORD=str(record), http_proxy=PROXY)
    (tmp_path / "out").mkdir()
    result = run_build(
        ["--element-path", elements, "-t", "tar", "-o", tmp_path / "out/img", "tinyos"],
        env,
        tmp_path / "cwd",
    )
    assert result.returncode == 0, describe(result)

    seen = json.loads(record.read_text())
    points = [mount_point_of(line) for line in seen["mountinfo"]]
    assert any(p.endswith("/root/tmp/ccache") for p in points), points
    assert any(p.endswith("/root/var/cache/apt/archives") for p in points), points
    # Bind mounts of the cache directories: the seeds are visible inside the tree.
    assert seen["listing"]["tmp/ccache"] == ["seed"]
    listing = seen["listing"]["var/cache/apt/archives"]
    assert [n for n in listing if n != "dibpy-apt.lock"] == ["seed_1.0_all.deb"]
    assert "dibpy-apt.lock" in listing  # apt-get ran under the shared cache's lock
    # Nothing of the build's own is in mountinfo once it has ended.
    assert mounts_under(tmp_path) == []
    assert build_dirs(tmp_path / "builds") == []

    image = tmp_path / "out/img.tar"
    names = tar_names(image)
    assert tar_text(image, "./sbin/start-stop-daemon") == REAL_SSD
    for gone in (
        "./sbin/start-stop-daemon.REAL",
        "./usr/sbin/policy-rc.d",
        "./etc/dpkg/dpkg.cfg.d/02apt-speedup",
        "./etc/apt/apt.conf.d/no-languages",
        "./etc/apt/apt.conf.d/60img-build-proxy",
        "./etc/resolv.conf",
        "./etc/resolv.conf.ORIG",
    ):
        assert gone not in names, gone
    # What the dpkg element leaves in the image on purpose.
    assert "./etc/apt/apt.conf.d/95no-translations" in names
    assert "./etc/apt/apt.conf.d/95disable-recommends" in names
    assert [n for n in names if n.startswith("./tmp/")] == []
    assert "./tmp" in names
    assert [n for n in names if "/var/cache/apt/archives/" in n] == []
    # The caches themselves are untouched by the unmounts.
    assert (cache / "ccache/seed").read_text() == "ccache seed"
    assert (cache / "apt/debian/seed_1.0_all.deb").read_text() == "deb seed"


def test_stop_after_root_keeps_the_build_time_settings(
    tmp_path: Path, elements: Path, clean: list[Path]
) -> None:
    env = build_env(tmp_path, http_proxy=PROXY)
    result = run_build(
        ["--element-path", elements, "--stop-after", "root", "tinyos"], env, tmp_path / "cwd"
    )
    assert result.returncode == 0, describe(result)
    build_dir = kept_build_dir(result)
    clean.append(build_dir)
    assert build_dirs(tmp_path / "builds") == [build_dir]
    assert mounts_under(tmp_path) == []

    root = build_dir / "root"
    assert (root / "sbin/start-stop-daemon.REAL").read_text() == REAL_SSD
    fake = root / "sbin/start-stop-daemon"
    assert "Fake start-stop-daemon" in fake.read_text()
    assert stat.S_IMODE(fake.stat().st_mode) == 0o755
    policy = root / "usr/sbin/policy-rc.d"
    assert stat.S_IMODE(policy.stat().st_mode) == 0o755
    assert subprocess.run([policy]).returncode == 101
    assert (root / "etc/dpkg/dpkg.cfg.d/02apt-speedup").read_text() == "force-unsafe-io\n"
    assert (root / "etc/apt/apt.conf.d/no-languages").is_file()
    assert (root / "etc/apt/apt.conf.d/95no-translations").is_file()
    proxy = root / "etc/apt/apt.conf.d/60img-build-proxy"
    assert proxy.read_text() == f'Acquire::http::Proxy "{PROXY}";\n'
    # The mount points are left behind as empty directories, not as mounts.
    assert list((root / "tmp/ccache").iterdir()) == []
    assert list((root / "var/cache/apt/archives").iterdir()) == []


# --- b: a failing hook ----------------------------------------------------------------------


def test_failing_hook_leaves_nothing_behind(
    tmp_path: Path, elements: Path, clean: list[Path]
) -> None:
    env = build_env(tmp_path, TINY_FAIL="1")
    result = run_build(
        ["--element-path", elements, "-t", "tar", "-o", tmp_path / "img", "tinyos"],
        env,
        tmp_path / "cwd",
    )
    assert result.returncode == 1, describe(result)
    assert "The install phase failed in hook 'fail_on_request' of element 'tinyos'" in (
        result.stderr.replace("\n  ", " ")
    ), describe(result)
    assert "tiny failure on purpose" in result.stderr.replace("\n  ", " ")
    assert "Traceback" not in result.stderr
    assert mounts_under(tmp_path) == []
    assert build_dirs(tmp_path / "builds") == []
    assert not (tmp_path / "img.tar").exists()
    assert list(tmp_path.glob(".img.tar*")) == []


def test_a_mount_left_by_a_hook_never_costs_the_host_its_files(
    tmp_path: Path, elements: Path, clean: list[Path]
) -> None:
    canary = tmp_path / "host-data"
    canary.mkdir()
    (canary / "precious").write_text("keep me\n")
    env = build_env(tmp_path, TINY_LEAK_MOUNT=str(canary))
    result = run_build(
        ["--element-path", elements, "-t", "tar", "-o", tmp_path / "img", "tinyos"],
        env,
        tmp_path / "cwd",
    )
    assert mounts_under(tmp_path) == []
    assert build_dirs(tmp_path / "builds") == []
    assert (canary / "precious").read_text() == "keep me\n", describe(result)
    assert "Traceback" not in result.stderr, describe(result)
    if result.returncode == 0:
        assert not [n for n in tar_names(tmp_path / "img.tar") if n.startswith("./tmp/")]


# --- c: signals -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sig", "whole_group"),
    [(signal.SIGINT, False), (signal.SIGTERM, False), (signal.SIGINT, True)],
    ids=["SIGINT", "SIGTERM", "ctrl-c-to-the-process-group"],
)
def test_signal_during_a_chroot_command_stops_and_cleans_up(
    tmp_path: Path, elements: Path, clean: list[Path], sig: signal.Signals, whole_group: bool
) -> None:
    """The signal goes to dibpy alone, or (as Ctrl-C in a terminal) to dibpy and the
    command it runs in the chroot at once."""
    marker = tmp_path / "sleeping"
    env = build_env(tmp_path, TINY_SLEEP_MARKER=str(marker))
    (tmp_path / "cwd").mkdir()
    stdout, stderr = tmp_path / "stdout", tmp_path / "stderr"
    with stdout.open("w") as out, stderr.open("w") as err:
        proc = subprocess.Popen(
            dibpy_argv("--element-path", elements, "-t", "tar", "-o", tmp_path / "img", "tinyos"),
            env=env,
            cwd=tmp_path / "cwd",
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert marker.exists(), f"the sleeping hook never started: {stderr.read_text()[-3000:]}"
        build_dir = Path(marker.read_text())
        # Wait until the sleep really runs inside the tree, so its end can be checked.
        while not processes_rooted_in(build_dir) and time.monotonic() < deadline:
            time.sleep(0.1)
        ((sleeper, name),) = processes_rooted_in(build_dir)
        assert name == "sleep"
        # The chroot's mounts are in the build's own mount namespace, not the host's.
        assert mounts_under(build_dir / "root", parent_of(sleeper)), "no chroot mounts"
        assert mounts_under(tmp_path) == []
        if whole_group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
        returncode = proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err_text = stderr.read_text()
    assert returncode == 130, err_text[-3000:]
    assert "Traceback" not in err_text
    assert "Interrupted during the install phase, in hook 'sleep_on_request'" in (
        err_text.replace("\n  ", " ")
    ), err_text[-3000:]
    assert processes_rooted_in(build_dir) == []
    assert mounts_under(tmp_path) == []
    assert not build_dir.exists()
    assert build_dirs(tmp_path / "builds") == []


# --- d: Ubuntu from a local mirror ----------------------------------------------------------

RELEASE = "noble"
SQUASHFS = f"{RELEASE}-server-cloudimg-amd64.squashfs"
TARBALL = f"{RELEASE}-server-cloudimg-amd64-root.tar.gz"
HOSTILE = "hostile-root.tar.gz"
OWNER = 4242
DEVICE = os.makedev(1, 3)
UBUNTU_SSD = "#!/bin/sh\necho the image's start-stop-daemon\n"
OS_RELEASE = 'NAME="Ubuntu"\nVERSION_ID="24.04"\nID=ubuntu\nVERSION_CODENAME=noble\n'


@dataclass
class Images:
    squashfs: Path
    tarball: Path
    hostile: Path


def make_ubuntu_tree(root: Path) -> None:
    make_busybox_tree(root, merged_usr=True)
    (root / "etc/os-release").write_text(OS_RELEASE)
    (root / "usr/sbin/start-stop-daemon").write_text(UBUNTU_SSD)
    (root / "home/ubuntu").mkdir(parents=True)
    (root / "home/ubuntu/owned").write_text("owned by 4242\n")
    os.chown(root / "home/ubuntu/owned", OWNER, OWNER)
    os.chown(root / "home/ubuntu", OWNER, OWNER)
    os.mknod(root / "dev/null", stat.S_IFCHR | 0o666, DEVICE)
    (root / "etc/apt/sources.list.d").mkdir(parents=True)
    (root / "var/lib/apt/lists").mkdir(parents=True)
    (root / "var/lib/apt/lists/archive_noble_main_i18n_Translation-en").write_text("t")


def make_hostile(path: Path) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        # From build_dir/root, ../../../escape is tmp_path/escape.
        for name, data in (("etc/os-release", b"ID=evil\n"), ("../../../escape", b"escaped\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Images:
    if os.geteuid() != 0 or shutil.which("mksquashfs") is None:
        pytest.skip("needs root and squashfs-tools")
    folder = tmp_path_factory.mktemp("images")
    tree = folder / "tree"
    tree.mkdir()
    make_ubuntu_tree(tree)
    squashfs = folder / SQUASHFS
    subprocess.run(
        ["mksquashfs", tree, squashfs, "-noappend", "-no-progress", "-comp", "gzip"],
        check=True,
        capture_output=True,
    )
    tarball = folder / TARBALL
    subprocess.run(["tar", "--numeric-owner", "-C", tree, "-czf", tarball, "."], check=True)
    return Images(squashfs, tarball, make_hostile(folder / HOSTILE))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class Mirror:
    """A local cloud-images mirror: ``/noble/current/<file>`` plus its SHA256SUMS."""

    server: HTTPServer
    files: dict[str, Upstream] = field(default_factory=dict)
    delay: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}/{RELEASE}/current"

    def serve(self, name: str, body: bytes, *, listed: bytes | None = None) -> Upstream:
        """Serve ``body`` as ``name`` and list ``listed`` (default: ``body``) in SHA256SUMS."""
        upstream = Upstream(body)
        self.files[name] = upstream

        def handler(request: Request) -> Response:
            if self.delay:
                time.sleep(self.delay)
            return upstream.handler(request)

        self.server.expect_request(f"/{RELEASE}/current/{name}").respond_with_handler(handler)
        digest = hashlib.sha256(body if listed is None else listed).hexdigest()
        self.sums_lines.append(f"{digest} *{name}\n")
        return upstream

    def __post_init__(self) -> None:
        self.sums_lines: list[str] = []
        self.sums = Upstream(b"", body_for=lambda request: "".join(self.sums_lines).encode())
        self.server.expect_request(f"/{RELEASE}/current/SHA256SUMS").respond_with_handler(
            self.sums.handler
        )

    def requests(self) -> list[str]:
        return [request.path for request, _ in self.server.log]


@pytest.fixture
def mirror() -> Iterator[Mirror]:
    server = HTTPServer(host="127.0.0.1", threaded=True)
    server.start()
    try:
        yield Mirror(server)
    finally:
        if server.is_running():
            server.stop()


def ubuntu_env(tmp_path: Path, mirror_url: str, **extra: str) -> dict[str, str]:
    return build_env(tmp_path, DIB_CLOUD_IMAGES=mirror_url, DIB_RELEASE=RELEASE, **extra)


def ubuntu_build(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_build(["-a", "amd64", "--stop-after", "root", "vm", "ubuntu"], env, tmp_path / "cwd")


def check_ubuntu_tree(root: Path, ssd: str = UBUNTU_SSD) -> None:
    assert (root / "etc/os-release").read_text() == OS_RELEASE
    owned = (root / "home/ubuntu/owned").stat()
    assert (owned.st_uid, owned.st_gid) == (OWNER, OWNER)
    null = (root / "dev/null").lstat()
    assert stat.S_ISCHR(null.st_mode) and null.st_rdev == DEVICE
    assert (root / "sbin").is_symlink()
    # The dpkg element's build-time settings, inside the merged /usr.
    assert (root / "usr/sbin/start-stop-daemon.REAL").read_text() == ssd
    assert "Fake start-stop-daemon" in (root / "usr/sbin/start-stop-daemon").read_text()
    assert subprocess.run([root / "usr/sbin/policy-rc.d"]).returncode == 101
    assert (root / "etc/dpkg/dpkg.cfg.d/02apt-speedup").read_text() == "force-unsafe-io\n"
    assert (root / "etc/apt/apt.conf.d/no-languages").is_file()
    assert (root / "etc/apt/apt.conf.d/95no-translations").is_file()
    assert not (root / "var/lib/apt/lists/archive_noble_main_i18n_Translation-en").exists()


def kept(result: subprocess.CompletedProcess[str], clean: list[Path]) -> Path:
    assert result.returncode == 0, describe(result)
    build_dir = kept_build_dir(result)
    clean.append(build_dir)
    return build_dir


def test_ubuntu_from_a_mirror_then_conditional_then_offline(
    tmp_path: Path, images: Images, mirror: Mirror, clean: list[Path]
) -> None:
    image = mirror.serve(SQUASHFS, images.squashfs.read_bytes())
    cache = tmp_path / "cache"
    env = ubuntu_env(tmp_path, mirror.url)

    first = kept(ubuntu_build(tmp_path, env), clean)
    check_ubuntu_tree(first / "root")
    assert sha256(cache / SQUASHFS) == sha256(images.squashfs)
    assert (cache / f"SHA256SUMS.ubuntu.{RELEASE}.amd64").read_text() == "".join(mirror.sums_lines)
    assert image.full_bodies_sent == 1
    assert "If-Modified-Since" not in image.requests[0]
    assert mounts_under(tmp_path) == []

    second = kept(ubuntu_build(tmp_path, env), clean)
    check_ubuntu_tree(second / "root")
    assert len(image.requests) == 2
    assert "If-Modified-Since" in image.requests[1]
    assert image.full_bodies_sent == 1  # the server answered 304
    assert "If-Modified-Since" in mirror.sums.requests[-1]

    seen = len(mirror.requests())
    mirror.server.stop()
    offline_env = ubuntu_env(tmp_path, f"http://127.0.0.1:{closed_port()}/x", DIB_OFFLINE="1")
    third = kept(ubuntu_build(tmp_path, offline_env), clean)
    check_ubuntu_tree(third / "root")
    assert len(mirror.requests()) == seen
    assert mounts_under(tmp_path) == []
    assert sorted(build_dirs(tmp_path / "builds")) == sorted([first, second, third])


def test_ubuntu_root_tarball(
    tmp_path: Path, images: Images, mirror: Mirror, clean: list[Path]
) -> None:
    tarball = mirror.serve(TARBALL, images.tarball.read_bytes())
    env = ubuntu_env(tmp_path, mirror.url, BASE_IMAGE_FILE=TARBALL)
    build_dir = kept(ubuntu_build(tmp_path, env), clean)
    check_ubuntu_tree(build_dir / "root")
    assert tarball.full_bodies_sent == 1
    assert sha256(tmp_path / "cache" / TARBALL) == sha256(images.tarball)
    assert not (tmp_path / "cache" / SQUASHFS).exists()


def test_ubuntu_local_image_makes_no_request(
    tmp_path: Path, images: Images, mirror: Mirror, clean: list[Path]
) -> None:
    mirror.serve(SQUASHFS, images.squashfs.read_bytes())
    env = ubuntu_env(tmp_path, mirror.url, DIB_LOCAL_IMAGE=str(images.squashfs))
    result = ubuntu_build(tmp_path, env)
    # Skipping the checksum is the user's explicit choice, and the log says so.
    assert "without a SHA-256 check" in " ".join(result.stderr.split()), describe(result)
    build_dir = kept(result, clean)
    check_ubuntu_tree(build_dir / "root")
    assert mirror.requests() == []
    assert not (tmp_path / "cache" / SQUASHFS).exists()


def test_ubuntu_bad_checksum_fails_and_leaves_no_image(
    tmp_path: Path, images: Images, mirror: Mirror, clean: list[Path]
) -> None:
    image = mirror.serve(SQUASHFS, images.squashfs.read_bytes(), listed=b"something else")
    env = ubuntu_env(tmp_path, mirror.url)
    result = run_build(
        ["-a", "amd64", "-t", "tar", "-o", tmp_path / "img", "vm", "ubuntu"],
        env,
        tmp_path / "cwd",
    )
    assert result.returncode == 1, describe(result)
    message = result.stderr.replace("\n  ", " ")
    assert "The root phase failed in hook 'cache_ubuntu_tarball' of element 'ubuntu'" in message
    assert "The SHA-256 of" in message and "SHA256SUMS lists" in message, describe(result)
    assert "Traceback" not in result.stderr
    # Fetched again with the cache-busting headers before giving up.
    assert image.full_bodies_sent == 2
    assert any("no-cache" in r.get("Cache-Control", "") for r in image.requests)
    cache = tmp_path / "cache"
    assert not (cache / SQUASHFS).exists()
    assert [p.name for p in cache.iterdir() if SQUASHFS in p.name and "lock" not in p.name] == []
    assert mounts_under(tmp_path) == []
    assert build_dirs(tmp_path / "builds") == []


def test_ubuntu_hostile_archive_is_refused(
    tmp_path: Path, images: Images, mirror: Mirror, clean: list[Path]
) -> None:
    mirror.serve(HOSTILE, images.hostile.read_bytes())
    env = ubuntu_env(tmp_path, mirror.url, BASE_IMAGE_FILE=HOSTILE)
    result = run_build(
        ["-a", "amd64", "-t", "tar", "-o", tmp_path / "img", "vm", "ubuntu"],
        env,
        tmp_path / "cwd",
    )
    assert result.returncode == 1, describe(result)
    message = result.stderr.replace("\n  ", " ")
    assert "Refusing to extract" in message and "'../../../escape'" in message, describe(result)
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "escape").exists()
    assert list(tmp_path.rglob("escape")) == []
    assert mounts_under(tmp_path) == []
    assert build_dirs(tmp_path / "builds") == []


def test_two_concurrent_builds_download_once(
    tmp_path: Path, images: Images, mirror: Mirror, clean: list[Path]
) -> None:
    image = mirror.serve(SQUASHFS, images.squashfs.read_bytes())
    mirror.delay = 0.5  # the first download is still running when the second build asks
    env = ubuntu_env(tmp_path, mirror.url)
    procs = []
    for n in range(2):
        cwd = tmp_path / f"cwd{n}"
        cwd.mkdir()
        procs.append(
            subprocess.Popen(
                dibpy_argv("-a", "amd64", "--stop-after", "root", "vm", "ubuntu"),
                env=env,
                cwd=cwd,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    dirs = [kept(result, clean) for result in results]
    for build_dir in dirs:
        check_ubuntu_tree(build_dir / "root")
    assert image.full_bodies_sent == 1
    assert len(image.requests) == 2
    assert mounts_under(tmp_path) == []


def test_sigterm_during_the_download_leaves_no_partial_file(
    tmp_path: Path, images: Images, mirror: Mirror, clean: list[Path]
) -> None:
    body = images.squashfs.read_bytes()
    mirror.serve(SQUASHFS, body)  # for SHA256SUMS
    release = threading.Event()

    def stall(request: Request) -> Response:
        def chunks() -> Iterator[bytes]:
            yield body[: len(body) // 2]
            release.wait(30)  # the rest never comes while the test runs
            yield body[len(body) // 2 :]

        return Response(chunks(), headers={"Content-Length": str(len(body))})

    mirror.server.clear_all_handlers()
    mirror.server.expect_request(f"/{RELEASE}/current/SHA256SUMS").respond_with_handler(
        mirror.sums.handler
    )
    mirror.server.expect_request(f"/{RELEASE}/current/{SQUASHFS}").respond_with_handler(stall)
    cache = tmp_path / "cache"
    env = ubuntu_env(tmp_path, mirror.url)
    (tmp_path / "cwd").mkdir()
    proc = subprocess.Popen(
        dibpy_argv("-a", "amd64", "-t", "tar", "-o", tmp_path / "img", "vm", "ubuntu"),
        env=env,
        cwd=tmp_path / "cwd",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        partial: list[Path] = []
        while time.monotonic() < deadline and proc.poll() is None:
            partial = [p for p in cache.glob(f".{SQUASHFS}.*.part") if p.stat().st_size]
            if partial:
                break
            time.sleep(0.05)
        assert partial, "the download never started"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    finally:
        release.set()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err[-3000:]
    assert "Traceback" not in err
    assert "Interrupted during the root phase, in hook 'cache_ubuntu_tarball'" in err.replace(
        "\n  ", " "
    )
    assert sorted(p.name for p in cache.iterdir() if SQUASHFS in p.name) == [f"{SQUASHFS}.lock"]
    assert mounts_under(tmp_path) == []
    assert build_dirs(tmp_path / "builds") == []
