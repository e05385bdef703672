"""The disk image of a build: its block-device config (chosen and checked before anything is
built), the fstab written into the tree, and the raw disk assembled from the finished tree
with no loop device and no mount (see ``dibpy.blockdev.disk``)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from dibpy.blockdev.config import (
    BlockDeviceConfig,
    RootDefaults,
    load_block_device_config,
    parse_block_device_config,
)
from dibpy.blockdev.disk import assemble_disk
from dibpy.blockdev.layout import fstab_text, plan_disk
from dibpy.blockdev.model import DiskLayout
from dibpy.blockdev.sizes import image_size, root_mkfs_options, tree_size
from dibpy.building.assembly import DiskSteps
from dibpy.elements import ElementSet
from dibpy.errors import InputError
from dibpy.host.run import Runner
from dibpy.tree.paths import write_file

log = logging.getLogger("dibpy.building.diskimage")

BLOCK_DEVICE = "block-device"
# fstab needs only names, mount points and UUIDs; any size that fits the config will do.
NOMINAL_SIZE = 1 << 40


def element_default_config(element_set: ElementSet) -> str | None:
    """The BLOCK_DEVICE_CONFIG of the element providing ``block-device``, if any."""
    provider = element_set.provided.get(BLOCK_DEVICE)
    for element in element_set.elements:
        if element.name == provider and element.module is not None:
            text = getattr(element.module, "BLOCK_DEVICE_CONFIG", None)
            return text if isinstance(text, str) else None
    return None


def check_arch(element_set: ElementSet, arch: str) -> None:
    """Elements may refuse architectures (DIB: block-device-mbr on arm64)."""
    for element in element_set.elements:
        if element.module is not None and arch in getattr(element.module, "UNSUPPORTED_ARCHES", ()):
            raise InputError(
                f"Element {element.name!r} does not support the {arch} architecture. Pick "
                "another element (for arm64, block-device-efi) or another -a."
            )


def block_device_config(
    element_set: ElementSet, env: Mapping[str, str], root_label: str | None
) -> BlockDeviceConfig:
    """DIB_BLOCK_DEVICE_CONFIG, else the block-device element's default, else DIB's fallback."""
    text = load_block_device_config(
        env.get("DIB_BLOCK_DEVICE_CONFIG"), element_default_config(element_set)
    )
    fs_type = env.get("FS_TYPE") or "ext4"
    root = RootDefaults(
        fs_type=fs_type,
        label=root_label,
        mkfs_options=root_mkfs_options(fs_type) or None,
    )
    config = parse_block_device_config(text, root)
    plan_disk(config, NOMINAL_SIZE)  # sizes that cannot fit (a fixed local_loop size) fail now
    return config


def write_fstab(tree: Path, config: BlockDeviceConfig) -> None:
    """etc/fstab for the config's file systems (DIB writes it before pre-finalise)."""
    write_file(tree, "etc/fstab", fstab_text(plan_disk(config, NOMINAL_SIZE)))


def make_disk(
    tree: Path,
    config: BlockDeviceConfig,
    raw: Path,
    runner: Runner,
    steps: DiskSteps,
    *,
    image_size_gb: float | None,
    extra_size_mb: int | None,
) -> DiskLayout:
    """Size the disk from the finished tree, run the registered steps, assemble it."""
    layout0 = plan_disk(config, NOMINAL_SIZE)
    efi = any(
        fs.fstype in ("vfat", "fat") and fs.mount_point == "/boot/efi" for fs in layout0.filesystems
    )
    for step in steps.before:  # may add files (GRUB modules) to the tree: size after it
        step(layout0)
    size = image_size(
        tree_size(tree), image_size_gb=image_size_gb, extra_size_mb=extra_size_mb, efi=efi
    )
    layout = plan_disk(config, size)
    log.info("Assembling a %d MiB %s disk", size >> 20, layout.table or "unpartitioned")
    assemble_disk(layout, tree, raw, runner)
    for after in steps.after:
        after(raw, layout)
    return layout
