"""Writes the image's kernel and initramfs beside it, as ``NAME.vmlinuz`` and
``NAME.initrd``, for Ironic's partition images (DIB's ``baremetal``).

At the end of the cleanup phase (DIB's ``cleanup.d/99-extract-kernel-and-ramdisk``) the
kernel and initramfs are chosen in the tree's ``/boot`` as DIB's ``select_boot_kernel_initrd``
chooses them, "newest" meaning first in ``ls -rv`` (version) order:

- with both ``DIB_BAREMETAL_KERNEL_PATTERN`` and ``DIB_BAREMETAL_INITRD_PATTERN`` set, the
  newest files matching them (shell patterns in ``/boot``);
- Debian and Ubuntu (``/etc/debian_version``): the newest ``vmlinu*generic`` (else
  ``vmlinu*``) and ``initrd*generic`` (else ``initrd*``); with ``DIB_SIGNED_KERNEL_VERSION``
  set, or set by the tree's ``/dib-signed-kernel-version``, the newest
  ``vmlinu*generic.efi.signed``;
- Red Hat (``/etc/redhat-release``): the newest non-debug ``vmlinuz*``, a PAE one first, and
  its ``initramfs-VERSION.img``;
- SUSE (``/etc/SuSE-release``, or ``DISTRO_NAME=opensuse``): what ``/boot/vmlinuz`` and
  ``/boot/initrd`` link to; Gentoo: the newest ``vmlinuz-*`` and ``initramfs-*``.

Both are written when the image is (``ctx.outputs``): atomically, listed in the manifest,
mode ``a+r`` (the kernel's mode less the umask, readable by all, as DIB's ``cp`` and
``chmod a+r``). ``/dib-signed-kernel-version`` is removed from the tree.

Deliberate differences: a tree without a kernel or initramfs stops the build with a message
(DIB's ``basename`` of nothing fails obscurely); with several ``*generic`` kernels the
newest is taken (DIB's ``ls`` without ``head`` gave ``basename`` two names and failed).
"""

from __future__ import annotations

import fnmatch
import logging
import re
import shlex
from pathlib import Path

from dibpy import BuildContext, BuildError, ElementSettings, cleanup_hook, setting
from dibpy.author import in_root

log = logging.getLogger("dibpy.elements.baremetal")

SIGNED_VERSION_FILE = "dib-signed-kernel-version"


class BaremetalSettings(ElementSettings):
    kernel_pattern: str = setting(
        "DIB_BAREMETAL_KERNEL_PATTERN",
        "",
        "shell pattern of the kernel in /boot (with DIB_BAREMETAL_INITRD_PATTERN)",
    )
    initrd_pattern: str = setting(
        "DIB_BAREMETAL_INITRD_PATTERN",
        "",
        "shell pattern of the initramfs in /boot (with DIB_BAREMETAL_KERNEL_PATTERN)",
    )
    signed_kernel_version: str = setting(
        "DIB_SIGNED_KERNEL_VERSION", "", "non-empty: take the signed kernel (Ubuntu)"
    )
    distro: str = setting("DISTRO_NAME", "", "the distribution (opensuse: SUSE's links)")


def version_key(name: str) -> list[tuple[int, int | str]]:
    """``ls -v``'s order: runs of digits compare as numbers."""
    return [(1, int(part)) if part.isdigit() else (0, part) for part in re.split(r"(\d+)", name)]


def newest(boot: Path, *patterns: str) -> str:
    """The newest name in ``boot`` matching the first pattern that matches any; ''."""
    names = [p.name for p in boot.iterdir()] if boot.is_dir() else []
    for pattern in patterns:
        found = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
        if found:
            return max(found, key=version_key)
    return ""


def _link_target(root: Path, name: str) -> str:
    """``readlink -e /boot/NAME``'s file name, resolved inside the tree; ''."""
    path = in_root(root, f"/boot/{name}")
    return path.name if path.exists() else ""


def signed_version(root: Path, configured: str) -> str:
    """DIB_SIGNED_KERNEL_VERSION, as the tree's /dib-signed-kernel-version may set it."""
    version = configured
    sourced = root / SIGNED_VERSION_FILE
    if sourced.is_file():
        for line in sourced.read_text().splitlines():
            for word in shlex.split(line, comments=True):  # [export] NAME=VALUE
                name, sep, value = word.partition("=")
                if sep and name == "DIB_SIGNED_KERNEL_VERSION":
                    version = value
    return version


def select_kernel_initrd(root: Path, settings: BaremetalSettings) -> tuple[str, str]:
    """The kernel's and the initramfs' names in ``root/boot`` (DIB's choice)."""
    boot = root / "boot"
    if settings.kernel_pattern and settings.initrd_pattern:
        kernel = newest(boot, settings.kernel_pattern)
        initrd = newest(boot, settings.initrd_pattern)
    elif (root / "etc/redhat-release").is_file():
        kernels = sorted(
            (p.name for p in boot.glob("vmlinuz*") if "debug" not in p.name),
            key=version_key,
            reverse=True,
        )
        kernel = next((k for k in kernels if "PAE" in k), kernels[0] if kernels else "")
        version = kernel.removeprefix("vmlinuz-")
        initrd = f"initramfs-{version}.img" if (boot / f"initramfs-{version}.img").exists() else ""
    elif (root / "etc/debian_version").is_file():
        kernel = newest(boot, "vmlinu*generic", "vmlinu*")
        initrd = newest(boot, "initrd*generic", "initrd*")
        if signed_version(root, settings.signed_kernel_version):
            kernel = newest(boot, "vmlinu*generic.efi.signed")
    elif (root / "etc/SuSE-release").is_file() or (
        not (root / "etc/gentoo-release").is_file() and settings.distro == "opensuse"
    ):
        kernel, initrd = _link_target(root, "vmlinuz"), _link_target(root, "initrd")
    elif (root / "etc/gentoo-release").is_file():
        kernel, initrd = newest(boot, "vmlinuz-*"), newest(boot, "initramfs-*")
    else:
        raise BuildError(
            "baremetal cannot tell the image's distribution (no /etc/debian_version, "
            "/etc/redhat-release, /etc/SuSE-release or /etc/gentoo-release), so it does not "
            "know which kernel to write. Set DIB_BAREMETAL_KERNEL_PATTERN and "
            "DIB_BAREMETAL_INITRD_PATTERN (shell patterns of the files in /boot)."
        )
    for what, name in (("kernel", kernel), ("initramfs", initrd)):
        if not name:
            raise BuildError(
                f"baremetal found no {what} in the image's /boot to write beside the image. "
                "Add an element that installs a kernel and an initramfs, or set "
                "DIB_BAREMETAL_KERNEL_PATTERN and DIB_BAREMETAL_INITRD_PATTERN."
            )
    return kernel, initrd


@cleanup_hook(order=99)
def extract_kernel_and_ramdisk(ctx: BuildContext) -> None:
    """Write /boot's kernel and initramfs beside the image as NAME.vmlinuz, NAME.initrd."""
    root = ctx.target_root
    kernel, initrd = select_kernel_initrd(root, ctx.settings(BaremetalSettings))
    for suffix, name in ((".vmlinuz", kernel), (".initrd", initrd)):
        source = in_root(root, f"/boot/{name}")  # a link is followed inside the tree
        ctx.outputs.add(suffix, source, (source.stat().st_mode & 0o755) | 0o444)
        log.info("Writing /boot/%s beside the image as NAME%s", name, suffix)
    (root / SIGNED_VERSION_FILE).unlink(missing_ok=True)
