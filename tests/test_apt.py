"""dibpy.apt's one-initramfs-per-kernel rule: which kernels still need an initramfs."""

from __future__ import annotations

from pathlib import Path

from dibpy.building.apt import kernels_without_initramfs


def add_kernel(tree: Path, version: str, *, initrd: bool, modules: bool = True) -> None:
    (tree / "boot").mkdir(parents=True, exist_ok=True)
    (tree / f"boot/vmlinuz-{version}").write_bytes(b"kernel")
    if initrd:
        (tree / f"boot/initrd.img-{version}").write_bytes(b"initrd")
    if modules:
        (tree / f"usr/lib/modules/{version}").mkdir(parents=True)


def test_a_new_kernel_without_initramfs_is_found(tmp_path: Path) -> None:
    (tmp_path / "usr/lib").mkdir(parents=True)
    (tmp_path / "lib").symlink_to("usr/lib")  # merged /usr, as in bookworm: resolved in-tree
    add_kernel(tmp_path, "6.1.0-56-amd64", initrd=False)
    add_kernel(tmp_path, "6.1.0-55-amd64", initrd=True)
    (tmp_path / "boot/vmlinuz").symlink_to("vmlinuz-6.1.0-56-amd64")  # not a kernel of its own
    assert kernels_without_initramfs(tmp_path) == ["6.1.0-56-amd64"]


def test_a_kernel_without_modules_or_no_boot_needs_nothing(tmp_path: Path) -> None:
    assert kernels_without_initramfs(tmp_path) == []
    (tmp_path / "usr/lib").mkdir(parents=True)
    (tmp_path / "lib").symlink_to("/usr/lib")  # an absolute link, as a tree may have
    add_kernel(tmp_path, "5.10.0-1-amd64", initrd=False, modules=False)
    assert kernels_without_initramfs(tmp_path) == []
    add_kernel(tmp_path, "6.1.0-1-amd64", initrd=False)
    assert kernels_without_initramfs(tmp_path) == ["6.1.0-1-amd64"]
