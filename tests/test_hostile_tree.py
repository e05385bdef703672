"""The tree is hostile: nothing dibpy does to the tree follows its absolute symlinks onto the
host (DESIGN principle 12).

Each test builds a tree whose top-level directories, or whose key files, are absolute
symlinks into a scratch directory standing for the build host's own files, runs the driver's
steps and the elements' hooks against it for real (mounts included, as root), and checks
that the scratch directory is byte for byte as it was: every name, type, mode, owner, time
and content, and no mount on it. The last test does a whole build of such a tree through the
CLI.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from conftest import ContextFactory, builtin_element, clean_env, make_element, run_dibpy
from root_helpers import force_unmount, kill_rooted_in, mounts_under, needs_root

from dibpy.blockdev.model import DiskLayout, Filesystem, MiB, Partition
from dibpy.building.context import BuildContext
from dibpy.elements import ElementIndex
from dibpy.errors import BuildError
from dibpy.host.chroot import Chroot
from dibpy.host.run import Runner
from dibpy.tree import tidy as driver
from dibpy.tree.paths import check_inside, in_root, make_dir

BOOTLOADER = builtin_element("bootloader")  # GRUB is the bootloader element's own code
BOOT, GRUB = BOOTLOADER.boot, BOOTLOADER.grub
install_efi = BOOT.install_efi
prepare_bootloader = BOOT.prepare_bootloader
write_default_grub = BOOT.write_default_grub
write_grub_cfg = GRUB.write_grub_cfg

TEST_ELEMENTS = Path(__file__).parent / "elements"
HOST_GRUB = Path("/usr/lib/grub")
TOP_LEVEL = ("etc", "var", "boot", "tmp", "root", "proc", "sys", "dev")
SHAPES = ("top-level", "key-files")

# The scratch directory: what a hostile tree's links point at on the host.
SCRATCH_FILES = {
    "etc/resolv.conf": "nameserver 192.0.2.1 # the host's\n",
    "etc/resolv.conf.ORIG": "the host's saved resolver\n",
    "etc/default/grub": "GRUB_TIMEOUT=99 # the host's\n",
    "etc/apt/trusted.gpg.d/dib.gpg": "the host's key\n",
    "var/log/syslog": "the host's syslog\n",
    "var/log/apt/history.log": "the host's apt history\n",
    "tmp/keep": "the host's temporary file\n",
    "root/build.log": "the host's log in /root\n",
    "boot/grub/grub.cfg": "the host's grub.cfg\n",
    "boot/grub/grubenv": "the host's grubenv\n",
    "boot/grub/i386-pc/core.img": "the host's core.img\n",
    "boot/grub/i386-pc/normal.mod": "the host's normal.mod\n",
    "boot/grub/x86_64-efi/normal.mod": "the host's normal.mod\n",
    "boot/efi/EFI/BOOT/BOOTX64.EFI": "the host's loader\n",
    "boot/efi/EFI/BOOT/grub.cfg": "the host's stub\n",
    "boot/efi/EFI/debian/grub.cfg": "the host's vendor stub\n",
}
SCRATCH_DIRS = ("proc", "sys", "dev/pts")

# The "key-files" shape: real top-level directories, these paths links into the scratch.
KEY_LINKS = (
    "etc/resolv.conf",
    "etc/resolv.conf.ORIG",
    "etc/default/grub",
    "etc/apt/trusted.gpg.d/dib.gpg",
    "var/log/syslog",
    "var/log/apt",
    "tmp/keep",
    "root/build.log",
    "boot/grub/grub.cfg",
    "boot/grub/grubenv",
    "boot/grub/i386-pc/core.img",
    "boot/grub/i386-pc/normal.mod",
    "boot/grub/x86_64-efi/normal.mod",
    "boot/efi/EFI",
    "proc",
    "sys",
)


# ------------------------------------------------------------------------------ the scratch


def make_scratch(scratch: Path) -> Path:
    for name, text in SCRATCH_FILES.items():
        path = scratch / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(0o640)
    for name in SCRATCH_DIRS:
        (scratch / name).mkdir(parents=True, exist_ok=True)
    return scratch


def snapshot(directory: Path) -> dict[str, tuple[object, ...]]:
    """Every entry below ``directory``: type, mode, owner, device, size, mtime and content
    (SHA-256, or a link's target). A mount on any of them changes its device; nothing
    mounted is walked into."""
    top = os.lstat(directory).st_dev
    found: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(directory):
        for name in [".", *dirnames, *filenames]:
            path = Path(dirpath, name)
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode):
                content: object = hashlib.sha256(path.read_bytes()).hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                content = os.readlink(path)
            else:
                content = None
            found[str(path.relative_to(directory))] = (
                stat.S_IFMT(st.st_mode),
                stat.S_IMODE(st.st_mode),
                st.st_uid,
                st.st_gid,
                st.st_dev,
                st.st_size if not stat.S_ISDIR(st.st_mode) else None,
                st.st_mtime_ns,
                content,
            )
        dirnames[:] = [d for d in dirnames if os.lstat(Path(dirpath, d)).st_dev == top]
    return found


# ------------------------------------------------------------------------- the hostile tree


def inside(root: Path, scratch: Path, relative: str = "") -> Path:
    """Where a link ``X -> <scratch>/relative`` leads inside the tree (as a chroot sees it)."""
    return root / scratch.relative_to("/") / relative


def make_hostile_tree(root: Path, scratch: Path, shape: str) -> None:
    """``top-level``: every directory of TOP_LEVEL is a link ``/<scratch>/NAME``;
    ``key-files``: real directories, with the paths of KEY_LINKS links into the scratch."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "usr/lib").mkdir(parents=True, exist_ok=True)
    if shape == "top-level":
        for name in TOP_LEVEL:
            (root / name).symlink_to(scratch / name)
        return
    for name in KEY_LINKS:
        link = root / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(scratch / name)
    (root / "dev").mkdir()
    (root / "etc/apt/trusted.gpg.d").mkdir(parents=True, exist_ok=True)


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Path]:
    """The host's files, in a directory whose path starts with none of the linked names
    (a tree's ``tmp -> /tmp/x/tmp`` would be a symlink loop inside the tree)."""
    parent = scratch_parent()
    if parent is None:
        pytest.skip("needs a writable directory outside /tmp, /var, /root, ... (as /run)")
    made = make_scratch(Path(tempfile.mkdtemp(prefix="dibpy-hostile-", dir=parent)))
    before = snapshot(made)
    try:
        yield made
        leftovers = force_unmount(tmp_path) + force_unmount(made)
        assert not leftovers, f"mounts left behind: {leftovers}"
        assert snapshot(made) == before
    finally:
        force_unmount(made)
        shutil.rmtree(made)


def scratch_parent() -> Path | None:
    for candidate in (tempfile.gettempdir(), "/run", "/mnt", "/srv", "/opt"):
        path = Path(candidate).resolve()
        first = path.parts[1] if len(path.parts) > 1 else ""
        if first and first not in (*TOP_LEVEL, "usr") and os.access(path, os.W_OK):
            return path
    return None


@pytest.fixture(params=SHAPES)
def hostile(request: pytest.FixtureRequest, tmp_path: Path, scratch: Path) -> Path:
    root = tmp_path / "tree"
    make_hostile_tree(root, scratch, request.param)
    return root


def unchanged(scratch: Path, before: dict[str, tuple[object, ...]]) -> None:
    after = snapshot(scratch)
    changed = sorted(name for name in {*before, *after} if before.get(name) != after.get(name))
    assert not changed, f"the host's scratch directory changed: {changed}"


# -------------------------------------------------------------------------------- the driver


def test_tidy_stays_in_the_tree(hostile: Path, scratch: Path) -> None:
    # What the chroot sees as /var/log, /tmp and /root (top-level shape), with content.
    logs = in_root(hostile, "var/log")
    logs.mkdir(parents=True, exist_ok=True)
    (logs / "dpkg.log").write_text("in the tree\n")
    tmp = in_root(hostile, "tmp")
    (tmp / "junk").mkdir(parents=True)
    home = in_root(hostile, "root")
    home.mkdir(parents=True, exist_ok=True)
    (home / "x.log").write_text("in the tree\n")
    before = snapshot(scratch)
    driver.tidy(hostile)
    unchanged(scratch, before)
    assert (logs / "dpkg.log").read_text() == ""
    assert not (tmp / "junk").exists()
    assert not (home / "x.log").exists()
    if (hostile / "tmp").is_dir() and not (hostile / "tmp").is_symlink():
        assert list((hostile / "tmp").iterdir()) == []  # the link tmp/keep itself went
    if not (hostile / "root").is_symlink():
        assert not (hostile / "root/build.log").is_symlink()


def test_resolver_swap_stays_in_the_tree(hostile: Path, scratch: Path) -> None:
    etc = in_root(hostile, "etc")
    etc.mkdir(parents=True, exist_ok=True)
    conf = etc / "resolv.conf"
    own = None if conf.is_symlink() else "nameserver 198.51.100.7 # the tree's\n"
    if own is not None:
        conf.write_text(own)
    link = os.readlink(conf) if conf.is_symlink() else None
    before = snapshot(scratch)
    driver.use_host_resolver(hostile)
    unchanged(scratch, before)
    assert not conf.is_symlink() and conf.is_file()
    driver.restore_resolver(hostile)
    unchanged(scratch, before)
    if own is not None:
        assert conf.read_text() == own
    else:
        assert os.readlink(conf) == link  # the tree's own link is back, as it was


def test_driver_steps_without_etc_do_nothing(tmp_path: Path, scratch: Path) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    (root / "etc").symlink_to(scratch / "etc")  # leads nowhere inside the tree
    before = snapshot(scratch)
    driver.use_host_resolver(root)
    driver.restore_resolver(root)
    driver.tidy(root)
    unchanged(scratch, before)


@pytest.mark.root
@needs_root
def test_chroot_session_mounts_inside_the_tree(hostile: Path, scratch: Path) -> None:
    before = snapshot(scratch)
    chroot = Chroot(hostile, Runner(), {})
    with chroot.session():
        assert not mounts_under(scratch)
        for name in ("proc", "sys", "dev", "dev/pts"):
            point = in_root(hostile, name)
            assert point in mounts_under(hostile), name
        assert (in_root(hostile, "proc") / "self").exists()
        unchanged(scratch, before)
    assert not mounts_under(hostile)
    unchanged(scratch, before)


@pytest.mark.root
@needs_root
def test_chroot_session_refuses_a_file_as_mount_point(tmp_path: Path, scratch: Path) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    (root / "proc").write_text("not a directory\n")
    with pytest.raises(BuildError, match="proc"), Chroot(root, Runner(), {}).session():
        pass
    assert not mounts_under(root)


def test_make_dir_refuses_a_path_the_host_resolves_elsewhere(tmp_path: Path, scratch: Path) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    assert make_dir(root, "a/b") == root / "a/b"
    (root / "link").symlink_to(scratch)
    assert make_dir(root, "link/c") == inside(root, scratch, "c")
    with pytest.raises(BuildError, match="symlink"):
        check_inside(root, root / "link/proc")


# ---------------------------------------------------------------------------------- elements


@pytest.fixture(scope="module")
def dpkg() -> ModuleType:
    module = ElementIndex.discover([]).get("dpkg").module
    assert module is not None
    return module


def hostile_context(
    context_factory: ContextFactory, scratch: Path, shape: str, keys: Path
) -> BuildContext:
    ctx = context_factory(
        elements=("dpkg",),
        env={"DIB_ADD_APT_KEYS": str(keys), "http_proxy": "http://proxy.example:3128"},
        image_name="x",
    )
    ctx.target_root.rmdir()
    make_hostile_tree(ctx.target_root, scratch, shape)
    return ctx


@pytest.mark.parametrize("shape", SHAPES)
def test_dpkg_hooks_stay_in_the_tree(
    scratch: Path,  # first: set up before, and checked after, the contexts are closed
    dpkg: ModuleType,
    context_factory: ContextFactory,
    tmp_path: Path,
    shape: str,
) -> None:
    keys = tmp_path / "keys"
    (keys / "sub").mkdir(parents=True)
    (keys / "dib.gpg").write_bytes(b"the build's key")
    (keys / "sub/other.gpg").write_bytes(b"another key")
    ctx = hostile_context(context_factory, scratch, shape, keys)
    root = ctx.target_root
    before = snapshot(scratch)
    dpkg.apt_keyring(ctx)
    unchanged(scratch, before)
    trusted = in_root(root, "etc/apt/trusted.gpg.d")
    assert (trusted / "dib.gpg").read_bytes() == b"the build's key"
    assert not (trusted / "dib.gpg").is_symlink()
    assert (trusted / "other.gpg").read_bytes() == b"another key"
    for hook in (
        "build_with_http_cache",
        "block_apt_translations",
        "block_daemons",
        "trim_dpkg",
        "disable_apt_recommends",
        "unblock_daemons",
        "remove_img_build_proxy",
        "untrim_dpkg",
    ):
        getattr(dpkg, hook)(ctx)
        unchanged(scratch, before)


@pytest.mark.root
@needs_root
@pytest.mark.parametrize("shape", SHAPES)
def test_dpkg_shared_apt_cache_mounts_inside_the_tree(
    scratch: Path,  # first: checked after the context (and its mount) is closed
    dpkg: ModuleType,
    context_factory: ContextFactory,
    tmp_path: Path,
    shape: str,
) -> None:
    ctx = hostile_context(context_factory, scratch, shape, tmp_path / "no-keys")
    before = snapshot(scratch)
    dpkg.shared_apt_cache(ctx)
    assert not mounts_under(scratch)
    assert in_root(ctx.target_root, "var/cache/apt/archives") in mounts_under(ctx.target_root)
    unchanged(scratch, before)


# ------------------------------------------------------------------------------------ GRUB

ROOT_UUID = "0d5c7c0e-7a6b-4a3c-9f3e-1a2b3c4d5e6f"


def efi_layout() -> DiskLayout:
    esp = Filesystem("vfat", "MKFS_ESP", "1A2B-3C4D", "/boot/efi")
    return DiskLayout(
        "image0",
        96 * MiB,
        "gpt",
        (
            Partition("ESP", 1, MiB, 16 * MiB, "EF00", False, esp),
            Partition("BSP", 2, 17 * MiB, 8 * MiB, "EF02"),
            Partition(
                "root", 3, 25 * MiB, 70 * MiB, "8300", False,
                Filesystem("ext4", "cloudimg-rootfs", ROOT_UUID, "/"),
            ),
        ),
    )  # fmt: skip


def kernel(root: Path) -> None:
    """A kernel where the chroot sees /boot."""
    boot = in_root(root, "boot")
    boot.mkdir(parents=True, exist_ok=True)
    (boot / "vmlinuz-6.1.0-10-amd64").write_bytes(b"k" * 1000)
    (boot / "initrd.img-6.1.0-10-amd64").write_bytes(b"i" * 1000)


def signed_loaders(root: Path) -> None:
    (root / "usr/lib/shim").mkdir(parents=True)
    (root / "usr/lib/shim/shimx64.efi.signed").write_bytes(b"MZshim")
    (root / "usr/lib/shim/mmx64.efi.signed").write_bytes(b"MZmok")
    (root / "usr/lib/grub/x86_64-efi-signed").mkdir(parents=True)
    (root / "usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed").write_bytes(
        b"MZgrub\x00/EFI/debian\x00"
    )


def test_grub_writer_with_signed_loaders_stays_in_the_tree(hostile: Path, scratch: Path) -> None:
    signed_loaders(hostile)
    kernel(hostile)
    before = snapshot(scratch)
    write_default_grub(hostile, root_device=f"UUID={ROOT_UUID}")
    write_grub_cfg(hostile, efi_layout())
    loader = install_efi(hostile, efi_layout(), Runner())
    unchanged(scratch, before)
    assert loader == in_root(hostile, "boot/efi/EFI/BOOT/BOOTX64.EFI")
    assert loader.read_bytes() == b"MZshim"
    assert "GRUB_TERMINAL" in in_root(hostile, "etc/default/grub").read_text()
    assert "search" in in_root(hostile, "boot/efi/EFI/debian/grub.cfg").read_text()
    grub_cfg = in_root(hostile, "boot/grub/grub.cfg").read_text()
    assert "linux /boot/vmlinuz-6.1.0-10-amd64" in grub_cfg


@pytest.mark.skipif(
    not all((HOST_GRUB / p / "kernel.img").is_file() for p in ("i386-pc", "x86_64-efi")),
    reason="needs the host's GRUB for BIOS and UEFI (grub-pc-bin, grub-efi-amd64-bin)",
)
def test_grub_bios_and_efi_stay_in_the_tree(hostile: Path, scratch: Path) -> None:
    for platform in ("i386-pc", "x86_64-efi"):
        shutil.copytree(HOST_GRUB / platform, hostile / "usr/lib/grub" / platform)
    kernel(hostile)
    before = snapshot(scratch)
    prepared = prepare_bootloader(hostile, efi_layout(), Runner())
    unchanged(scratch, before)
    assert prepared.bios is not None and prepared.efi
    assert in_root(hostile, "boot/grub/i386-pc/normal.mod").read_bytes()[:4] == b"\x7fELF"
    assert in_root(hostile, "boot/grub/x86_64-efi/normal.mod").read_bytes()[:4] == b"\x7fELF"
    assert in_root(hostile, "boot/efi/EFI/BOOT/BOOTX64.EFI").read_bytes()[:2] == b"MZ"


# ------------------------------------------------------------------------------ whole build

HOSTILE_ELEMENT = '''
"""Test element: makes every top-level directory of the bash-root tree an absolute symlink,
``/NAME -> <HOSTILE_SCRATCH>/NAME``, with the directory moved to where the link leads inside
the tree, so the image works in a chroot while, on the host, the links lead into the
scratch directory."""

import os
from pathlib import Path

from dibpy import BuildContext, root_hook

DEPENDS = ["bash-root"]
TOP_LEVEL = {top_level!r}


@root_hook(order=20)
def hostile_links(ctx: BuildContext) -> None:
    scratch = Path(ctx.env["HOSTILE_SCRATCH"])
    root = ctx.target_root
    moved = root / scratch.relative_to("/")
    moved.mkdir(parents=True)
    for name in TOP_LEVEL:
        if (root / name).is_dir():
            os.rename(root / name, moved / name)
        else:
            (moved / name).mkdir()
        (root / name).symlink_to(scratch / name)
    (moved / "var/log").mkdir(parents=True)
    (moved / "var/log/dpkg.log").write_text("in the tree\\n")
    (moved / "etc/resolv.conf").write_text("nameserver 198.51.100.7 # the tree's\\n")
'''

CHROOT_SCRIPT = """\
#!/bin/bash
set -eu
echo "from the chroot" > /var/log/hostile.log
echo "from the chroot" > /root/hostile.log
echo "from the chroot" > /tmp/hostile
cat /etc/resolv.conf > /dev/null
ls /proc/self > /dev/null
"""


@pytest.mark.root
@needs_root
def test_whole_build_of_a_hostile_tree(tmp_path: Path, scratch: Path) -> None:
    elements = tmp_path / "elements"
    make_element(elements, "hostile-tree", HOSTILE_ELEMENT.format(top_level=TOP_LEVEL))
    script = elements / "hostile-chroot/install.d/10-write"
    script.parent.mkdir(parents=True)
    script.write_text(CHROOT_SCRIPT)
    script.chmod(0o755)
    base = tmp_path / "run"
    base.mkdir()
    env = clean_env(base, DIB_NO_TMPFS="1", HOSTILE_SCRATCH=str(scratch))
    paths = ["--element-path", str(elements), "--element-path", str(TEST_ELEMENTS)]
    out = base / "out"
    args = ["build", "-n", "-t", "tar", "-o", str(out), *paths]
    before = snapshot(scratch)
    try:
        result = run_dibpy([*args, "bash-root", "hostile-tree", "hostile-chroot"], env, base)
    finally:
        kill_rooted_in(tmp_path)
    unchanged(scratch, before)
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert result.returncode == 0, result.stderr[-3000:]
    moved = "./" + str(scratch.relative_to("/"))
    with tarfile.open(out.with_suffix(".tar")) as tar:
        names = {m.name: m for m in tar.getmembers()}
        assert names["./var"].issym() and names["./var"].linkname == str(scratch / "var")
        assert names[f"{moved}/var/log/hostile.log"].size == 0  # truncated, in the tree
        assert names[f"{moved}/var/log/dpkg.log"].size == 0
        assert f"{moved}/root/hostile.log" not in names
        assert f"{moved}/tmp/hostile" not in names
        resolv = tar.extractfile(names[f"{moved}/etc/resolv.conf"])
        assert resolv is not None
        assert resolv.read() == b"nameserver 198.51.100.7 # the tree's\n"
