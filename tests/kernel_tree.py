"""A bootable Debian bookworm root tree for the slow tests, made once and cached.

``debootstrap --variant=minbase`` with a kernel, systemd, an initramfs and GRUB's BIOS and
UEFI files (plus shim and the signed GRUB) takes a few minutes, so the finished tree is kept
as ``bookworm-kernel-tree-<key>.tar.zst`` in ``$DIB_TEST_CACHE`` (default
``~/.cache/dibpy-tests``); ``<key>`` changes whenever the recipe below changes. Each test
gets its own fresh copy of the tree (``extract_kernel_tree``), extracted with numeric owners
and xattrs, so tests may change it freely.

The tree has root's password set to ``dibpy`` and the hostname ``dibpy-test``; it has no
``/etc/fstab`` (writing that is the build's job, not the disk writer's), no GRUB installed on
any disk and no ``/boot/grub``. Building it needs root (debootstrap) and the Debian mirror
(``DIB_DEBIAN_MIRROR`` overrides ``http://deb.debian.org/debian``).

Use from a test module::

    pytest_plugins = ("kernel_tree",)  # makes the fixtures below available

    @pytest.mark.slow
    def test_x(kernel_tree: Path) -> None: ...
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from filelock import FileLock

RELEASE = "bookworm"
PACKAGES = (
    "linux-image-amd64",
    "systemd-sysv",
    "udev",
    "initramfs-tools",
    "grub-pc-bin",
    "grub-efi-amd64-bin",
    "grub-efi-amd64-signed",
    "shim-signed",
    "e2fsprogs",
)
ROOT_PASSWORD = "dibpy"
HOSTNAME = "dibpy-test"
RECIPE_VERSION = "1"  # bump when the steps in build_kernel_tree change


def cache_dir() -> Path:
    configured = os.environ.get("DIB_TEST_CACHE")
    base = Path(configured) if configured else Path.home() / ".cache" / "dibpy-tests"
    base.mkdir(parents=True, exist_ok=True)
    return base


def mirror() -> str:
    return os.environ.get("DIB_DEBIAN_MIRROR", "http://deb.debian.org/debian")


def tarball_path() -> Path:
    key = hashlib.sha256(
        "\n".join([RELEASE, *PACKAGES, ROOT_PASSWORD, HOSTNAME, RECIPE_VERSION]).encode()
    ).hexdigest()[:12]
    return cache_dir() / f"{RELEASE}-kernel-tree-{key}.tar.zst"


def _run(argv: list[str], **kwargs: object) -> None:
    subprocess.run(argv, check=True, **kwargs)  # type: ignore[call-overload]


def _mounted_below(path: Path) -> list[str]:
    prefix = str(path.resolve()) + "/"
    with open("/proc/self/mountinfo") as mounts:
        points = [line.split()[4] for line in mounts]
    return [p for p in points if p.startswith(prefix) or p == prefix[:-1]]


def build_kernel_tree(tree: Path) -> None:
    """debootstrap the tree and make it loginable on the serial console."""
    _run(
        [
            "debootstrap",
            "--variant=minbase",
            "--include=" + ",".join(PACKAGES),
            RELEASE,
            str(tree),
            mirror(),
        ],
        stdout=subprocess.DEVNULL,
    )
    initrds = sorted((tree / "boot").glob("initrd.img-*"))
    kernels = sorted((tree / "boot").glob("vmlinuz-*"))
    if not kernels or not initrds:
        raise RuntimeError(f"debootstrap left no kernel/initrd in {tree}/boot: {kernels} {initrds}")
    # chpasswd through PAM works in a chroot without /proc.
    _run(["chroot", str(tree), "chpasswd"], input=f"root:{ROOT_PASSWORD}\n".encode())
    (tree / "etc/hostname").write_text(HOSTNAME + "\n")
    # Keep the cached tree small: nothing the boot needs lives in these.
    for leftover in (tree / "var/cache/apt/archives").glob("*.deb"):
        leftover.unlink()
    for lists in (tree / "var/lib/apt/lists").glob("*_*"):
        lists.unlink()


def ensure_kernel_tree_tarball() -> Path:
    """The cached tarball, built first if it is not there (one builder at a time)."""
    target = tarball_path()
    with FileLock(str(target) + ".lock"):
        if target.exists():
            return target
        if os.geteuid() != 0:
            pytest.skip("building the kernel tree needs root (debootstrap)")
        work = Path(tempfile.mkdtemp(prefix="kernel-tree.", dir=cache_dir()))
        tree = work / "root"
        started = time.monotonic()
        try:
            build_kernel_tree(tree)
            part = target.with_name(target.name + ".part")
            _run(
                [
                    "tar",
                    "--numeric-owner",
                    "--xattrs",
                    "--xattrs-include=*",
                    "--zstd",
                    "-C",
                    str(tree),
                    "-cf",
                    str(part),
                    ".",
                ]
            )
            os.replace(part, target)
        finally:
            still = _mounted_below(work)
            if still:
                raise RuntimeError(f"not removing {work}: still mounted below it: {still}")
            shutil.rmtree(work, ignore_errors=True)
        print(f"kernel tree built and cached in {time.monotonic() - started:.0f}s: {target}")
        return target


def extract_kernel_tree(destination: Path) -> Path:
    """A fresh copy of the cached tree at ``destination`` (created; must not exist)."""
    tarball = ensure_kernel_tree_tarball()
    destination.mkdir(parents=True)
    _run(
        [
            "tar",
            "--numeric-owner",
            "--xattrs",
            "--xattrs-include=*",
            "--zstd",
            "-C",
            str(destination),
            "-xpf",
            str(tarball),
        ]
    )
    return destination


@pytest.fixture(scope="session")
def kernel_tree_tarball() -> Path:
    return ensure_kernel_tree_tarball()


@pytest.fixture
def kernel_tree(kernel_tree_tarball: Path, tmp_path: Path) -> Path:
    """A private copy of the bootable tree in this test's tmp dir (the parent holds only it)."""
    return extract_kernel_tree(tmp_path / "work" / "root")


if __name__ == "__main__":
    print(ensure_kernel_tree_tarball())
