"""The dpkg element's build-time settings and their undo, run against real trees in tmp_path."""

from __future__ import annotations

import hashlib
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from conftest import ContextFactory
from root_helpers import mounts_under, needs_root

from dibpy.building.context import BuildContext
from dibpy.elements import ElementIndex
from dibpy.host.run import Runner
from dibpy.host.workspace import Workspace

HOST_SSD = Path("/usr/sbin/start-stop-daemon")


@pytest.fixture(scope="module")
def dpkg() -> ModuleType:
    module = ElementIndex.discover([]).get("dpkg").module
    assert module is not None
    return module


MakeContext = Callable[..., BuildContext]


@pytest.fixture
def make_ctx(context_factory: ContextFactory) -> MakeContext:
    """Build contexts on real workspaces under tmp_path; every one is closed afterwards."""
    return lambda **env: context_factory(elements=("dpkg",), env=env, image_name="x")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- the build proxy -------------------------------------------------------------------------


@pytest.mark.parametrize("variable", ["http_proxy", "HTTP_PROXY"])
def test_build_proxy_is_written_when_http_proxy_is_set(
    dpkg: ModuleType, make_ctx: MakeContext, variable: str
) -> None:
    ctx = make_ctx(**{variable: "http://proxy.example:3128"})
    dpkg.build_with_http_cache(ctx)
    conf = ctx.target_root / "etc/apt/apt.conf.d/60img-build-proxy"
    assert conf.read_text() == 'Acquire::http::Proxy "http://proxy.example:3128";\n'
    dpkg.remove_img_build_proxy(ctx)
    assert not conf.exists()
    assert (ctx.target_root / "etc/apt/apt.conf.d").is_dir()


@pytest.mark.parametrize(
    "env", [{}, {"https_proxy": "http://proxy.example:3128"}, {"http_proxy": ""}]
)
def test_no_build_proxy_without_http_proxy(
    dpkg: ModuleType, make_ctx: MakeContext, env: dict[str, str]
) -> None:
    ctx = make_ctx(**env)
    dpkg.build_with_http_cache(ctx)
    assert not (ctx.target_root / "etc/apt/apt.conf.d/60img-build-proxy").exists()
    dpkg.remove_img_build_proxy(ctx)  # nothing to remove is fine


def test_lowercase_proxy_wins_over_uppercase(dpkg: ModuleType, make_ctx: MakeContext) -> None:
    ctx = make_ctx(http_proxy="http://lower:1", HTTP_PROXY="http://upper:2")
    dpkg.build_with_http_cache(ctx)
    conf = ctx.target_root / "etc/apt/apt.conf.d/60img-build-proxy"
    assert conf.read_text() == 'Acquire::http::Proxy "http://lower:1";\n'


# --- translations ----------------------------------------------------------------------------


def test_block_apt_translations(dpkg: ModuleType, make_ctx: MakeContext) -> None:
    ctx = make_ctx()
    lists = ctx.target_root / "var/lib/apt/lists"
    (lists / "partial").mkdir(parents=True)
    translations = [
        "deb.debian.org_debian_dists_bookworm_main_i18n_Translation-en",
        "deb.debian.org_debian_dists_bookworm_contrib_i18n_Translation-de_DE",
    ]
    kept = [
        "deb.debian.org_debian_dists_bookworm_InRelease",
        "deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages",
        "lock",
    ]
    for name in translations + kept:
        (lists / name).write_text(name)
    partial = lists / "partial/deb.debian.org_debian_dists_bookworm_main_i18n_Translation-en"
    partial.write_text("partial")
    dpkg.block_apt_translations(ctx)
    conf = ctx.target_root / "etc/apt/apt.conf.d/95no-translations"
    assert conf.read_text() == 'Acquire::Languages "none";\n'
    for name in translations:
        assert not (lists / name).exists(), name
    for name in kept:
        assert (lists / name).read_text() == name
    assert partial.read_text() == "partial"


def test_block_apt_translations_without_lists(dpkg: ModuleType, make_ctx: MakeContext) -> None:
    ctx = make_ctx()
    dpkg.block_apt_translations(ctx)
    assert (ctx.target_root / "etc/apt/apt.conf.d/95no-translations").is_file()
    assert not (ctx.target_root / "var").exists()


# --- daemons ---------------------------------------------------------------------------------


def put(path: Path, text: str, perms: int = 0o755) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(perms)


REAL_SSD = "#!/bin/sh\necho real start-stop-daemon\n"
REAL_INITCTL = "#!/bin/sh\necho real initctl\n"


def check_fake(path: Path) -> None:
    """A no-op start-stop-daemon: mode 0755, exits 0 and warns."""
    assert mode(path) == 0o755
    ran = subprocess.run([path, "--start", "--exec", "/usr/sbin/food"], capture_output=True)
    assert ran.returncode == 0
    assert b"Warning: Fake start-stop-daemon called, doing nothing" in ran.stdout


def check_policy(root: Path) -> None:
    policy = root / "usr/sbin/policy-rc.d"
    assert mode(policy) == 0o755
    assert subprocess.run([policy, "ssh", "start"]).returncode == 101


def test_block_and_unblock_daemons(dpkg: ModuleType, make_ctx: MakeContext) -> None:
    ctx = make_ctx()
    root = ctx.target_root
    put(root / "sbin/start-stop-daemon", REAL_SSD)
    (root / "usr/sbin").mkdir(parents=True)
    dpkg.block_daemons(ctx)
    real = root / "sbin/start-stop-daemon.REAL"
    assert real.read_text() == REAL_SSD
    assert mode(real) == 0o755
    check_fake(root / "sbin/start-stop-daemon")
    check_policy(root)
    # No initctl in the tree: none is made up.
    assert not (root / "sbin/initctl").exists()
    assert not (root / "sbin/initctl.REAL").exists()

    dpkg.unblock_daemons(ctx)
    assert (root / "sbin/start-stop-daemon").read_text() == REAL_SSD
    assert mode(root / "sbin/start-stop-daemon") == 0o755
    assert not real.exists()
    assert not (root / "usr/sbin/policy-rc.d").exists()
    assert not (root / "sbin/initctl").exists()


def test_initctl_is_blocked_when_present(dpkg: ModuleType, make_ctx: MakeContext) -> None:
    ctx = make_ctx()
    root = ctx.target_root
    put(root / "sbin/start-stop-daemon", REAL_SSD)
    put(root / "sbin/initctl", REAL_INITCTL)
    dpkg.block_daemons(ctx)
    assert (root / "sbin/initctl.REAL").read_text() == REAL_INITCTL
    check_fake(root / "sbin/initctl")
    dpkg.unblock_daemons(ctx)
    assert (root / "sbin/initctl").read_text() == REAL_INITCTL
    assert not (root / "sbin/initctl.REAL").exists()


def test_blocking_twice_keeps_the_real_binary(dpkg: ModuleType, make_ctx: MakeContext) -> None:
    ctx = make_ctx()
    root = ctx.target_root
    put(root / "sbin/start-stop-daemon", REAL_SSD)
    dpkg.block_daemons(ctx)
    dpkg.block_daemons(ctx)
    assert (root / "sbin/start-stop-daemon.REAL").read_text() == REAL_SSD
    dpkg.unblock_daemons(ctx)
    assert (root / "sbin/start-stop-daemon").read_text() == REAL_SSD


def test_block_daemons_with_merged_usr(dpkg: ModuleType, make_ctx: MakeContext) -> None:
    ctx = make_ctx()
    root = ctx.target_root
    put(root / "usr/sbin/start-stop-daemon", REAL_SSD)
    (root / "sbin").symlink_to("usr/sbin")
    dpkg.block_daemons(ctx)
    assert (root / "sbin").is_symlink()
    assert (root / "usr/sbin/start-stop-daemon.REAL").read_text() == REAL_SSD
    check_fake(root / "usr/sbin/start-stop-daemon")
    check_policy(root)
    dpkg.unblock_daemons(ctx)
    assert (root / "sbin").is_symlink()
    assert (root / "usr/sbin/start-stop-daemon").read_text() == REAL_SSD
    assert not (root / "usr/sbin/start-stop-daemon.REAL").exists()
    assert not (root / "usr/sbin/policy-rc.d").exists()


def test_block_daemons_through_an_absolute_sbin_link_to_a_canary(
    dpkg: ModuleType, make_ctx: MakeContext, tmp_path: Path
) -> None:
    """sbin -> /<somewhere on the host>: the hooks act on the tree's copy only."""
    canary = tmp_path / "host/sbin"
    put(canary / "start-stop-daemon", "host's own\n")
    ctx = make_ctx()
    root = ctx.target_root
    (root / "sbin").symlink_to(canary)
    inside = root / canary.relative_to("/")
    put(inside / "start-stop-daemon", REAL_SSD)
    dpkg.block_daemons(ctx)
    assert sorted(p.name for p in canary.iterdir()) == ["start-stop-daemon"]
    assert (canary / "start-stop-daemon").read_text() == "host's own\n"
    assert (inside / "start-stop-daemon.REAL").read_text() == REAL_SSD
    check_fake(inside / "start-stop-daemon")
    dpkg.unblock_daemons(ctx)
    assert (inside / "start-stop-daemon").read_text() == REAL_SSD
    assert (canary / "start-stop-daemon").read_text() == "host's own\n"


@pytest.mark.skipif(not HOST_SSD.is_file(), reason="the host has no /usr/sbin/start-stop-daemon")
def test_block_daemons_through_an_absolute_sbin_link_never_touches_the_host(
    dpkg: ModuleType, make_ctx: MakeContext
) -> None:
    from dibpy.tree.paths import in_root

    host_before = (sha256(HOST_SSD), HOST_SSD.stat().st_mode, HOST_SSD.stat().st_ino)
    ctx = make_ctx()
    root = ctx.target_root
    (root / "sbin").symlink_to("/usr/sbin")
    put(root / "usr/sbin/start-stop-daemon", REAL_SSD)
    # Guard: if resolution were broken the hook below would rename the host's binary (as root).
    assert in_root(root, "sbin/start-stop-daemon") == root / "usr/sbin/start-stop-daemon"
    dpkg.block_daemons(ctx)
    assert (root / "usr/sbin/start-stop-daemon.REAL").read_text() == REAL_SSD
    check_fake(root / "usr/sbin/start-stop-daemon")
    check_policy(root)
    dpkg.unblock_daemons(ctx)
    assert (root / "usr/sbin/start-stop-daemon").read_text() == REAL_SSD
    assert not (root / "usr/sbin/policy-rc.d").exists()
    assert (sha256(HOST_SSD), HOST_SSD.stat().st_mode, HOST_SSD.stat().st_ino) == host_before
    assert not Path("/usr/sbin/start-stop-daemon.REAL").exists()


def test_policy_rc_d_through_an_absolute_usr_link_stays_in_the_tree(
    dpkg: ModuleType, make_ctx: MakeContext, tmp_path: Path
) -> None:
    canary = tmp_path / "host/usr"
    (canary / "sbin").mkdir(parents=True)
    ctx = make_ctx()
    root = ctx.target_root
    (root / "usr").symlink_to(canary)
    dpkg.block_daemons(ctx)
    assert list((canary / "sbin").iterdir()) == []
    check_policy(root / canary.relative_to("/").parent)
    dpkg.unblock_daemons(ctx)
    assert not (root / canary.relative_to("/") / "sbin/policy-rc.d").exists()


# --- dpkg speed-ups --------------------------------------------------------------------------


def test_trim_and_untrim_dpkg(dpkg: ModuleType, make_ctx: MakeContext) -> None:
    ctx = make_ctx()
    root = ctx.target_root
    dpkg.trim_dpkg(ctx)
    assert (root / "etc/dpkg/dpkg.cfg.d/02apt-speedup").read_text() == "force-unsafe-io\n"
    assert (root / "etc/apt/apt.conf.d/no-languages").read_text() == 'Acquire::Languages "none";\n'
    dpkg.untrim_dpkg(ctx)
    assert not (root / "etc/dpkg/dpkg.cfg.d/02apt-speedup").exists()
    assert not (root / "etc/apt/apt.conf.d/no-languages").exists()
    assert (root / "etc/dpkg/dpkg.cfg.d").is_dir()


def test_trim_and_untrim_dpkg_on_a_fake_file_system(dpkg: ModuleType, fs: object) -> None:
    """The pure file-writing hooks, on pyfakefs: no real file is written."""
    work = Path("/work/builds")
    workspace = Workspace(work, Runner())
    ctx = BuildContext.create(
        workspace, arch="amd64", image_name="x", elements=("dpkg",), image_cache=Path("/c")
    )
    root = ctx.target_root
    assert root.parent.parent == work
    dpkg.trim_dpkg(ctx)
    assert (root / "etc/dpkg/dpkg.cfg.d/02apt-speedup").read_text() == "force-unsafe-io\n"
    assert mode(root / "etc/dpkg/dpkg.cfg.d/02apt-speedup") == 0o644
    assert (root / "etc/apt/apt.conf.d/no-languages").read_text() == 'Acquire::Languages "none";\n'
    dpkg.untrim_dpkg(ctx)
    assert not (root / "etc/dpkg/dpkg.cfg.d/02apt-speedup").exists()
    assert not (root / "etc/apt/apt.conf.d/no-languages").exists()
    # Nothing else in the tree: the hooks touch only their two files.
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) == []


def test_disable_apt_recommends_stays(dpkg: ModuleType, make_ctx: MakeContext) -> None:
    ctx = make_ctx()
    dpkg.disable_apt_recommends(ctx)
    conf = ctx.target_root / "etc/apt/apt.conf.d/95disable-recommends"
    assert 'APT::Install-Recommends "0";' in conf.read_text()
    for undo in (dpkg.unblock_daemons, dpkg.remove_img_build_proxy, dpkg.untrim_dpkg):
        undo(ctx)
    assert conf.is_file()


def test_cleanup_hooks_are_the_undo_and_run_in_dibs_order(dpkg: ModuleType) -> None:
    element = ElementIndex.discover([]).get("dpkg")
    cleanup = sorted((h.order, h.name) for h in element.hooks if h.phase.value == "cleanup")
    assert cleanup == [(40, "unblock_daemons"), (50, "remove_img_build_proxy"), (60, "untrim_dpkg")]
    root = {h.name: h.order for h in element.hooks if h.phase.value == "root"}
    assert root["build_with_http_cache"] == 50
    assert root["block_apt_translations"] == 60
    # DIB 3.43's numbers: before the debian-/ubuntu-minimal base install at 75
    assert root["block_daemons"] == root["trim_dpkg"] == root["shared_apt_cache"] == 50


# --- the shared apt cache (a real bind mount) ------------------------------------------------


@pytest.mark.root
@needs_root
def test_shared_apt_cache_is_a_real_bind_mount(
    dpkg: ModuleType, make_ctx: MakeContext, tmp_path: Path
) -> None:
    ctx = make_ctx(DISTRO_NAME="ubuntu")
    archives = ctx.target_root / "var/cache/apt/archives"
    try:
        dpkg.shared_apt_cache(ctx)
        mounted = mounts_under(ctx.build_dir)
        assert mounted == [archives]
        info = Path("/proc/self/mountinfo").read_text()
        assert f"{ctx.build_dir}/root/var/cache/apt/archives" in info
        cache = tmp_path / "cache/apt/ubuntu"
        (cache / "hello_1.0_amd64.deb").write_text("a package")
        assert (archives / "hello_1.0_amd64.deb").read_text() == "a package"
        (archives / "from-the-tree.deb").write_text("downloaded in the chroot")
        assert (cache / "from-the-tree.deb").read_text() == "downloaded in the chroot"
    finally:
        ctx._workspace.release_tree_mounts()
    assert mounts_under(tmp_path) == []
    assert not (archives / "hello_1.0_amd64.deb").exists()
    assert (tmp_path / "cache/apt/ubuntu/from-the-tree.deb").exists()


@pytest.mark.root
@needs_root
def test_shared_apt_cache_defaults_to_the_debian_directory(
    dpkg: ModuleType, make_ctx: MakeContext, tmp_path: Path
) -> None:
    ctx = make_ctx()
    try:
        dpkg.shared_apt_cache(ctx)
        assert mounts_under(ctx.build_dir) == [ctx.target_root / "var/cache/apt/archives"]
        assert (tmp_path / "cache/apt/debian").is_dir()
    finally:
        ctx._workspace.release_tree_mounts()
    assert mounts_under(tmp_path) == []


@pytest.mark.root
@needs_root
def test_shared_apt_cache_through_an_absolute_var_link_mounts_inside_the_tree(
    dpkg: ModuleType, make_ctx: MakeContext, tmp_path: Path
) -> None:
    ctx = make_ctx()
    root = ctx.target_root
    (root / "srv/var").mkdir(parents=True)
    (root / "var").symlink_to("/srv/var")
    try:
        dpkg.shared_apt_cache(ctx)
        assert mounts_under(tmp_path) == [root / "srv/var/cache/apt/archives"]
    finally:
        ctx._workspace.release_tree_mounts()
    assert mounts_under(tmp_path) == []


@pytest.mark.root
@needs_root
@pytest.mark.parametrize("value", ["0", "no", "false"])
def test_shared_apt_cache_off(
    dpkg: ModuleType, make_ctx: MakeContext, tmp_path: Path, value: str
) -> None:
    ctx = make_ctx(DIB_APT_LOCAL_CACHE=value)
    dpkg.shared_apt_cache(ctx)
    assert mounts_under(tmp_path) == []
    assert not (tmp_path / "cache/apt").exists()
    assert not (ctx.target_root / "var/cache/apt/archives").exists()
