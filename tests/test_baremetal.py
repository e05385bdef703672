"""The baremetal port: its choice of kernel and initramfs against DIB 3.43's own
``select_boot_kernel_initrd`` (lib/img-functions, run with bash on the same trees), and the
files it writes beside the image in real builds (tests/test_differential_core.py compares
them with DIB's original element's).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest
from conftest import builtin_element, clean_env, run_dibpy
from differential import TEST_ELEMENTS, dib_elements
from root_helpers import needs_root

from dibpy import BuildError
from dibpy.config.settings import read_settings

DIB_LIB = dib_elements().parent / "lib"
# name: (files in the tree, environment)
TREES: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "debian, ls -v order": (
        {
            "etc/debian_version": "12",
            "boot/vmlinuz-6.1.0-9-amd64": "",
            "boot/vmlinuz-6.1.0-10-amd64": "",
            "boot/initrd.img-6.1.0-9-amd64": "",
            "boot/initrd.img-6.1.0-10-amd64": "",
        },
        {},
    ),
    "ubuntu, generic first": (
        {
            "etc/debian_version": "trixie/sid",
            "boot/vmlinuz-6.8.0-31-generic": "",
            "boot/vmlinuz-6.9.0-1-lowlatency": "",
            "boot/initrd.img-6.8.0-31-generic": "",
            "boot/initrd.img-6.9.0-1-lowlatency": "",
        },
        {},
    ),
    "ubuntu, signed kernel from the tree's file": (
        {
            "etc/debian_version": "trixie/sid",
            "dib-signed-kernel-version": "export DIB_SIGNED_KERNEL_VERSION=6.8.0-31\n",
            "boot/vmlinuz-6.8.0-31-generic": "",
            "boot/vmlinuz-6.8.0-31-generic.efi.signed": "",
            "boot/initrd.img-6.8.0-31-generic": "",
        },
        {},
    ),
    "red hat, PAE first, no debug": (
        {
            "etc/redhat-release": "",
            "boot/vmlinuz-5.14.0-9.el9.x86_64": "",
            "boot/vmlinuz-5.14.0-10.el9.x86_64+debug": "",
            "boot/vmlinuz-5.14.0-8.el9.PAE": "",
            "boot/initramfs-5.14.0-8.el9.PAE.img": "",
            "boot/initramfs-5.14.0-9.el9.x86_64.img": "",
        },
        {},
    ),
    "gentoo": (
        {
            "etc/gentoo-release": "",
            "boot/vmlinuz-6.6.1-gentoo": "",
            "boot/vmlinuz-6.6.10-gentoo": "",
            "boot/initramfs-6.6.10-gentoo.img": "",
        },
        {},
    ),
    "patterns": (
        {
            "etc/debian_version": "12",
            "boot/vmlinuz-6.1.0-10-amd64": "",
            "boot/custom-kernel-2": "",
            "boot/custom-kernel-11": "",
            "boot/custom-initrd": "",
        },
        {
            "DIB_BAREMETAL_KERNEL_PATTERN": "custom-kernel-*",
            "DIB_BAREMETAL_INITRD_PATTERN": "custom-initrd*",
        },
    ),
}


def make_tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def dibs_choice(root: Path, env: dict[str, str]) -> tuple[str, str]:
    script = (
        f"set -eu; source {DIB_LIB}/img-functions; "
        'select_boot_kernel_initrd "$1"; echo "$KERNEL $RAMDISK"'
    )
    done = subprocess.run(
        ["bash", "-c", script, "bash", str(root)],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        check=True,
    )
    kernel, initrd = done.stdout.splitlines()[-1].split()  # after "Using signed kernel"
    return kernel, initrd


@pytest.mark.parametrize("name", list(TREES))
def test_the_kernel_and_initrd_are_dibs_choice(tmp_path: Path, name: str) -> None:
    files, env = TREES[name]
    root = make_tree(tmp_path, files)
    element = builtin_element("baremetal")
    settings = read_settings(element.BaremetalSettings, env)
    assert element.select_kernel_initrd(root, settings) == dibs_choice(root, env)


def test_a_tree_without_a_kernel_says_what_to_do(tmp_path: Path) -> None:
    element = builtin_element("baremetal")
    root = make_tree(tmp_path, {"etc/debian_version": "12", "boot/initrd.img-1": ""})
    with pytest.raises(BuildError, match="no kernel in the image's /boot"):
        element.select_kernel_initrd(root, element.BaremetalSettings())
    with pytest.raises(BuildError, match="cannot tell the image's distribution"):
        element.select_kernel_initrd(tmp_path / "empty", element.BaremetalSettings())


def test_a_boot_link_is_followed_inside_the_tree(tmp_path: Path) -> None:
    element = builtin_element("baremetal")
    root = make_tree(tmp_path / "root", {"etc/SuSE-release": "", "boot/vmlinuz-6.4": ""})
    (root / "boot/vmlinuz").symlink_to("/boot/vmlinuz-6.4")
    (root / "boot/initrd").symlink_to("/etc/passwd")  # the host's file: not in the tree
    with pytest.raises(BuildError, match="no initramfs"):
        element.select_kernel_initrd(root, element.BaremetalSettings())
    (root / "etc/passwd").write_text("the tree's\n")
    assert element.select_kernel_initrd(root, element.BaremetalSettings()) == (
        "vmlinuz-6.4",
        "passwd",
    )


@pytest.mark.root
@needs_root
def test_the_kernel_is_written_with_the_image_and_removed_with_it(tmp_path: Path) -> None:
    """NAME.vmlinuz and NAME.initrd are outputs: in the manifest with their checksums, and
    gone with the image when writing the outputs fails (here: NAME.initrd is a folder)."""
    env = clean_env(tmp_path, DIB_NO_TMPFS="1")
    args = ["build", "-n", "-t", "tar", "-o", str(tmp_path / "image"), "--no-progress"]
    args += ["--element-path", str(TEST_ELEMENTS), "bash-root", "uses-baremetal"]
    done = run_dibpy(args, env, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    manifest = json.loads((tmp_path / "image.manifest.json").read_text())
    assert {o["format"] for o in manifest["outputs"]} == {"tar", "vmlinuz", "initrd"}
    for output in manifest["outputs"]:
        path = Path(output["path"])
        assert path.stat().st_size == output["size"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == output["sha256"]
    assert (tmp_path / "image.vmlinuz").read_text() == "kernel 6.1.0-10-amd64\n"
    for path in (*tmp_path.glob("image.*"), *tmp_path.glob(".image*")):
        path.unlink()
    (tmp_path / "image.initrd" / "in-the-way").mkdir(parents=True)
    done = run_dibpy(args, env, tmp_path)
    assert done.returncode != 0
    assert f"Cannot write {tmp_path / 'image.initrd'}" in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("image", ".image"))) == [
        "image.initrd"
    ]
