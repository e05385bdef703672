"""dibpy.blockdev.layout and sizes: placing partitions, fstab, the image size, tree_size."""

from __future__ import annotations

import itertools
import os
import random
import shutil
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import block_device_defaults

from dibpy.blockdev.config import (
    BlockDeviceConfig,
    BlockDeviceConfigError,
    RootDefaults,
    parse_block_device_config,
)
from dibpy.blockdev.disk import check_layout
from dibpy.blockdev.layout import fstab_text, plan_disk
from dibpy.blockdev.model import DiskLayout, Filesystem, MiB, Partition
from dibpy.blockdev.sizes import image_size, root_mkfs_options, tree_size
from dibpy.errors import SettingsError

defaults = block_device_defaults()

GiB = 1024 * MiB
KiB = 1024


def counting_uuids() -> Callable[[], uuid.UUID]:
    counter = itertools.count(1)

    def new_uuid() -> uuid.UUID:
        n = next(counter)
        return uuid.UUID(f"{n:08x}-0000-4000-8000-{n:012x}")

    return new_uuid


def parse(text: str, root: RootDefaults | None = None) -> BlockDeviceConfig:
    return parse_block_device_config(text, root, new_uuid=counting_uuids())


def plan(text: str, size: int, root: RootDefaults | None = None) -> DiskLayout:
    layout = plan_disk(parse(text, root), size)
    check_layout(layout)  # what the disk writer accepts
    return layout


def spans(layout: DiskLayout) -> list[tuple[str, int, int, int]]:
    """(name, number, start MiB, size MiB) per partition (all sizes here are whole MiB)."""
    out = []
    for part in layout.partitions:
        assert part.start % MiB == 0 and part.size % MiB == 0, part
        out.append((part.name, part.number, part.start // MiB, part.size // MiB))
    return out


def table(label: str, partitions: str, extra: str = "") -> str:
    """A config with ``partitions`` (YAML list items, 6-space indented) and a root fs."""
    return f"""
- local_loop:
    name: image0
{extra}
- partitioning:
    base: image0
    label: {label}
    partitions:
{partitions}"""


# --------------------------------------------------------------------------- defaults


def test_mbr_default_on_2gib() -> None:
    layout = plan(defaults.MBR, 2 * GiB)
    assert (layout.name, layout.size, layout.table) == ("image0", 2 * GiB, "mbr")
    (root,) = layout.partitions
    assert (root.name, root.number, root.type_code, root.bootable) == ("root", 1, "0x83", True)
    assert root.start == MiB
    # DIB's MBR.free() keeps one alignment unit back: 100% ends 1 MiB before the end.
    assert root.size == 2 * GiB - 2 * MiB
    fs = root.filesystem
    assert fs is not None
    assert (fs.fstype, fs.label, fs.mount_point, fs.name) == (
        "ext4",
        "cloudimg-rootfs",
        "/",
        "mkfs_root",
    )
    assert (fs.fstab_options, fs.dump_freq, fs.fsck_passno, fs.in_fstab) == (
        "defaults",
        0,
        1,
        True,
    )
    assert layout.root == fs
    assert layout.partition_of(fs) == root


def test_mbr_default_takes_root_settings() -> None:
    root = RootDefaults(fs_type="ext4", label="img", mkfs_options="-i 4096 -J size=64")
    layout = plan(defaults.MBR, 2 * GiB, root)
    assert layout.root.label == "img"
    assert layout.root.mkfs_options == ("-i", "4096", "-J", "size=64")


def test_gpt_default() -> None:
    layout = plan(defaults.GPT, 2 * GiB)
    assert layout.table == "gpt"
    assert spans(layout) == [("BSP", 1, 1, 8), ("root", 2, 9, 2038)]
    bsp, root = layout.partitions
    assert (bsp.type_code, bsp.filesystem) == ("EF02", None)
    assert root.type_code == "8300"
    assert not root.bootable  # the boot flag is ignored on GPT, as in DIB
    assert root.start + root.size <= layout.size - MiB  # room for the backup GPT
    assert root.filesystem == layout.root


def test_efi_default() -> None:
    layout = plan(defaults.EFI, 2 * GiB)
    assert spans(layout) == [("ESP", 1, 1, 550), ("BSP", 2, 551, 8), ("root", 3, 559, 1488)]
    esp, bsp, root = layout.partitions
    assert [p.type_code for p in (esp, bsp, root)] == ["EF00", "EF02", "8300"]
    assert esp.filesystem is not None and root.filesystem is not None
    assert (esp.filesystem.fstype, esp.filesystem.label) == ("vfat", "MKFS_ESP")
    assert esp.filesystem.mount_point == "/boot/efi"
    assert esp.filesystem.uuid == "0000-0001"
    assert esp.filesystem.fsck_passno == 2
    assert root.start + root.size == layout.size - MiB


def test_gpt_on_a_disk_that_is_not_whole_mib() -> None:
    size = 2 * GiB + 64 * KiB  # image sizes are 64 KiB multiples
    layout = plan(defaults.GPT, size)
    assert spans(layout) == [("BSP", 1, 1, 8), ("root", 2, 9, 2038)]


def test_fallback_is_the_whole_disk() -> None:
    layout = plan(defaults.FALLBACK, GiB)
    assert (layout.table, layout.partitions) == (None, ())
    fs = layout.whole_disk_filesystem
    assert fs is not None
    assert (fs.fstype, fs.label, fs.mount_point) == ("ext4", "cloudimg-rootfs", "/")
    assert layout.root == fs


def test_local_loop_size_wins() -> None:
    layout = plan(defaults.MBR.replace("name: image0", "name: image0\n    size: 1GiB"), 2 * GiB)
    assert layout.size == GiB


# --------------------------------------------------------------------------- percentages


def test_mbr_percentages_of_the_space_still_free() -> None:
    # DIB's doc example: three partitions of "about 1/3" each, here primary.
    layout = plan(
        table(
            "mbr",
            """      - {name: data0, size: 33%, flags: [primary]}
      - {name: data1, size: 50%, flags: [primary]}
      - {name: data2, size: 100%, flags: [primary], mkfs: {type: ext4, mount: {mount_point: /}}}
""",
        ),
        GiB,
    )
    # free: 1022 MiB -> 33% = 337.26 MiB -> 337; then 685 -> 342.5 -> 342; then 343.
    assert spans(layout) == [("data0", 1, 1, 337), ("data1", 2, 338, 342), ("data2", 3, 680, 343)]
    assert [p.bootable for p in layout.partitions] == [False, False, False]
    assert layout.extended_start == 0


def test_mbr_partitions_without_the_primary_flag_are_logical() -> None:
    # The same example as DIB writes it: no flags, so logical partitions 5-7 in an extended
    # partition from 1 MiB, each one MiB (its EBR) after the end of the one before.
    layout = plan(
        table(
            "mbr",
            """      - {name: data0, size: 33%}
      - {name: data1, size: 50%}
      - {name: data2, size: 100%, mkfs: {type: ext4, mount: {mount_point: /}}}
""",
        ),
        GiB,
    )
    # free: 1021 MiB -> 336; then 684 -> 342; then 341.
    assert spans(layout) == [("data0", 5, 2, 336), ("data1", 6, 339, 342), ("data2", 7, 682, 341)]
    assert layout.extended_start == MiB
    assert layout.extended_number == 1


def test_primary_then_logical_numbers_as_dib() -> None:
    layout = plan(
        table(
            "mbr",
            """      - {name: boot, size: 100MiB, flags: [boot, primary]}
      - {name: data, size: 10MiB}
      - {name: root, size: 100%, mkfs: {type: ext4, mount: {mount_point: /}}}
""",
        ),
        GiB,
    )
    assert [(p.name, p.number) for p in layout.partitions] == [
        ("boot", 1),
        ("data", 5),
        ("root", 6),
    ]
    assert layout.extended_start == 101 * MiB
    assert layout.extended_number == 2


def test_gpt_doc_example() -> None:
    layout = plan(
        table(
            "gpt",
            """      - {name: ESP, type: EF00, size: 16MiB}
      - {name: data1, size: 1GiB, mkfs: {type: ext4, mount: {mount_point: /}}}
      - {name: lvmdata, type: 8E00, size: 100%}
""",
        ),
        4 * GiB,
    )
    assert spans(layout) == [("ESP", 1, 1, 16), ("data1", 2, 17, 1024), ("lvmdata", 3, 1041, 3054)]
    assert layout.partitions[2].type_code == "8E00"


def test_gpt_percentages() -> None:
    layout = plan(
        table(
            "gpt",
            """      - {name: a, size: 33%}
      - {name: b, size: 33%}
      - {name: c, size: 100%, mkfs: {type: ext4, mount: {mount_point: /}}}
""",
        ),
        2 * GiB,
    )
    # DIB subtracts the size asked (not the MiB-floored one) from what is free.
    assert spans(layout) == [("a", 1, 1, 675), ("b", 2, 676, 452), ("c", 3, 1128, 918)]
    last = layout.partitions[-1]
    assert last.start + last.size <= layout.size - MiB


def test_sizes_are_floored_to_the_alignment() -> None:
    layout = plan(
        table(
            "mbr",
            """      - {name: boot, size: 100MB, flags: [boot, primary]}
      - {name: root, size: 100%, flags: [primary], mkfs: {type: ext4, mount: {mount_point: /}}}
""",
        ),
        GiB,
    )
    # 100 MB = 95.37 MiB -> 95 MiB
    assert spans(layout) == [("boot", 1, 1, 95), ("root", 2, 96, 927)]
    assert [p.bootable for p in layout.partitions] == [True, False]


def test_mbr_alignment() -> None:
    layout = plan(defaults.MBR.replace("label: mbr", "label: mbr\n    align: 4MiB"), 64 * MiB)
    assert spans(layout) == [("root", 1, 4, 56)]
    small = plan_disk(parse(defaults.MBR.replace("label: mbr", "label: mbr\n    align: 512")), GiB)
    (root,) = small.partitions
    assert (root.start, root.size) == (512, GiB - 1024)


def test_mbr_absolute_size_may_reach_the_end() -> None:
    layout = plan(defaults.MBR.replace("size: 100%", "size: 2047MiB"), 2 * GiB)
    (root,) = layout.partitions
    assert root.start + root.size == 2 * GiB


def test_mbr_types() -> None:
    layout = plan(
        table(
            "mbr",
            """      - {name: esp, type: '0xEF', size: 100MiB}
      - {name: swap, type: '82', size: 100MiB}
      - {name: root, size: 100%, mkfs: {type: ext4, mount: {mount_point: /}}}
""",
        ),
        GiB,
    )
    assert [p.type_code for p in layout.partitions] == ["0xef", "0x82", "0x83"]


# --------------------------------------------------------------------------- does not fit


def test_partition_that_does_not_fit() -> None:
    config = parse(defaults.GPT.replace("size: 100%", "size: 3GiB"))
    with pytest.raises(BlockDeviceConfigError) as caught:
        plan_disk(config, 2 * GiB)
    message = str(caught.value)
    assert "partition 'root'" in message
    assert "3GiB" in message and "3 GiB" in message
    assert "2038 MiB" in message  # what is left after BSP
    assert "--image-size" in message


def test_mbr_partition_that_does_not_fit() -> None:
    config = parse(defaults.MBR.replace("size: 100%", "size: 2GiB"))
    with pytest.raises(BlockDeviceConfigError) as caught:
        plan_disk(config, 2 * GiB)
    assert "partition 'root'" in str(caught.value)
    assert "2047 MiB" in str(caught.value)


def test_later_partition_that_does_not_fit() -> None:
    config = parse(
        table(
            "gpt",
            """      - {name: big, size: 900MiB}
      - {name: root, size: 200MiB, mkfs: {type: ext4, mount: {mount_point: /}}}
""",
        )
    )
    with pytest.raises(BlockDeviceConfigError) as caught:
        plan_disk(config, GiB)
    assert "partition 'root'" in str(caught.value)
    assert "122 MiB" in str(caught.value)  # 1024 - 2 - 900


def test_partition_smaller_than_the_alignment() -> None:
    config = parse(defaults.GPT.replace("size: 8MiB", "size: 100KiB"))
    with pytest.raises(BlockDeviceConfigError) as caught:
        plan_disk(config, GiB)
    assert "partition 'BSP'" in str(caught.value)
    assert "less than one" in str(caught.value)


def test_percentage_of_nothing_left() -> None:
    config = parse(
        table(
            "gpt",
            """      - {name: all, size: 100%}
      - {name: root, size: 50%, mkfs: {type: ext4, mount: {mount_point: /}}}
""",
        )
    )
    with pytest.raises(BlockDeviceConfigError, match="partition 'root'"):
        plan_disk(config, GiB)


def test_disk_must_be_image0() -> None:
    config = parse(defaults.MBR.replace("image0", "disk"))
    with pytest.raises(BlockDeviceConfigError, match="no local_loop named 'image0'"):
        plan_disk(config, GiB)


def test_only_one_disk() -> None:
    config = parse(defaults.MBR + "\n- local_loop: {name: data_image, size: 1GiB}\n")
    with pytest.raises(BlockDeviceConfigError, match="'data_image'"):
        plan_disk(config, GiB)


def test_bad_image_size() -> None:
    with pytest.raises(BlockDeviceConfigError, match="multiple of 512"):
        plan_disk(parse(defaults.MBR), 1000)


# --------------------------------------------------------------------------- fstab

MULTI = """
- local_loop:
    name: image0

- partitioning:
    base: image0
    label: mbr
    partitions:
      - name: root
        flags: [boot, primary]
        size: 54%
        mkfs:
          type: xfs
          uuid: 11111111-1111-4111-8111-111111111111
          mount:
            mount_point: /
            fstab:
              options: "defaults"
              fsck-passno: 1
      - name: var
        size: 40%
        mkfs:
          type: xfs
          uuid: 22222222-2222-4222-8222-222222222222
          mount:
            mount_point: /var
            fstab:
              options: "defaults,nodev"
              fsck-passno: 1
      - name: var_log
        size: 5%
        mkfs:
          type: vfat
          label: varlog
          mount:
            mount_point: /var/log
            fstab:
              options: "defaults"
              fsck-passno: 1
      - name: swap
        size: 100%
        type: '0x82'
        mkfs:
          type: swap
          uuid: 33333333-3333-4333-8333-333333333333
          mount:
            mount_point: none
            fstab: {}
"""


def test_fstab_text_sorted_by_mount_point() -> None:
    layout = plan(MULTI, 4 * GiB)
    assert fstab_text(layout) == (
        "UUID=11111111-1111-4111-8111-111111111111 / xfs defaults 0 1\n"
        "UUID=22222222-2222-4222-8222-222222222222 /var xfs defaults,nodev 0 1\n"
        "UUID=0000-0001 /var/log vfat defaults 0 1\n"
        "UUID=33333333-3333-4333-8333-333333333333 none swap sw 0 0\n"
    )
    root = layout.root
    assert (root.label, root.name) == ("img-rootfs", "mkfs_root")  # xfs root label
    swap = layout.partitions[3].filesystem
    assert swap is not None
    assert swap.mount_point is None  # not mounted
    # only root has the primary flag: the others are logical, as DIB numbers them
    assert [p.number for p in layout.partitions] == [1, 5, 6, 7]


def test_fstab_text_of_the_defaults() -> None:
    efi = plan(defaults.EFI, 2 * GiB)
    root = efi.root
    assert fstab_text(efi) == (
        f"UUID={root.uuid} / ext4 defaults 0 1\nUUID=0000-0001 /boot/efi vfat defaults 0 2\n"
    )
    mbr = plan(defaults.MBR, 2 * GiB)
    assert fstab_text(mbr) == f"UUID={mbr.root.uuid} / ext4 defaults 0 1\n"


def test_fstab_skips_file_systems_without_an_entry() -> None:
    layout = plan(
        table(
            "gpt",
            """      - name: data
        size: 100MiB
        mkfs: {type: ext4, mount: {mount_point: /srv}}
      - name: scratch
        size: 100MiB
        mkfs: {type: ext4}
      - name: root
        size: 100%
        mkfs: {type: ext4, mount: {mount_point: /, fstab: {fsck-passno: 1}}}
""",
        ),
        GiB,
    )
    data, scratch, root = (p.filesystem for p in layout.partitions)
    assert data is not None and scratch is not None and root is not None
    assert (data.in_fstab, scratch.in_fstab, scratch.mount_point) == (False, False, None)
    assert fstab_text(layout) == f"UUID={root.uuid} / ext4 defaults 0 1\n"


def test_fstab_order_is_plain_string_order() -> None:
    def fs(mount_point: str) -> Filesystem:
        return Filesystem("ext4", mount_point, f"uuid-{mount_point}", mount_point)

    mounts = ["/var/log", "/boot", "/", "/var", "/boot/efi", "/home"]
    layout = DiskLayout(
        name="image0",
        size=GiB,
        table="gpt",
        partitions=tuple(
            Partition(str(n), n, n * MiB, MiB, "8300", filesystem=fs(mp))
            for n, mp in enumerate(mounts, start=1)
        ),
    )
    found = [line.split()[1] for line in fstab_text(layout).splitlines()]
    assert found == ["/", "/boot", "/boot/efi", "/home", "/var", "/var/log"]


def test_fstab_uses_label_only_without_uuid() -> None:
    layout = DiskLayout(
        "image0", GiB, None, whole_disk_filesystem=Filesystem("ext4", "cloudimg-rootfs", "", "/")
    )
    assert fstab_text(layout) == "LABEL=cloudimg-rootfs / ext4 defaults 0 2\n"


# --------------------------------------------------------------------------- image size


@pytest.mark.parametrize(
    ("kwargs", "expected_kib"),
    [
        # explicit --image-size: GB x 1024^3, no journal
        ({"tree_bytes": 123, "image_size_gb": 2}, 2 * 1024 * 1024),
        ({"tree_bytes": 0, "image_size_gb": 1.5}, 1572864),
        ({"tree_bytes": 0, "image_size_gb": 1.5, "efi": True}, 1572864 + 525 * 1024),
        ({"tree_bytes": 0, "image_size_gb": 0.1}, 104896),  # 104857 KiB rounded up to 64
        # automatic: du / 0.6 + the 64 MiB journal
        ({"tree_bytes": 600 * MiB}, 1024000 + 65536),
        ({"tree_bytes": 600 * MiB, "efi": True}, 1024000 + 65536 + 537600),
        ({"tree_bytes": 600 * MiB, "journal_mb": 0}, 1024000),
        ({"tree_bytes": 600 * MiB, "journal_mb": 128}, 1024000 + 131072),
        # --image-extra-size replaces the scale-up
        ({"tree_bytes": 100 * MiB, "extra_size_mb": 500}, 102400 + 512000 + 65536),
        ({"tree_bytes": 100 * MiB, "extra_size_mb": 0, "journal_mb": 0}, 102400),
        # du rounds up to KiB; the total rounds up to 64 KiB
        # never too small for mke2fs to fit the journal: (1 + 2 x 65536) x 16/15
        # + 4096 KiB of slack = 143907 -> 143936
        ({"tree_bytes": 1000}, 143936),
        ({"tree_bytes": 1000, "journal_mb": 0}, 64),
        ({"tree_bytes": 1000, "journal_mb": 0, "efi": True}, 537600 + 64),
    ],
)
def test_image_size(kwargs: dict[str, object], expected_kib: int) -> None:
    arguments: dict[str, object] = {"image_size_gb": None, "extra_size_mb": None, "efi": False}
    arguments.update(kwargs)
    size = image_size(**arguments)  # type: ignore[arg-type]
    assert size == expected_kib * KiB
    assert size % (64 * KiB) == 0


@pytest.mark.parametrize(
    "kwargs",
    [{"image_size_gb": 0}, {"image_size_gb": -1.0}, {"extra_size_mb": -5}, {"journal_mb": -1}],
)
def test_image_size_rejects(kwargs: dict[str, object]) -> None:
    arguments: dict[str, object] = {"image_size_gb": None, "extra_size_mb": None, "efi": False}
    arguments.update(kwargs)
    with pytest.raises(SettingsError):
        image_size(10 * MiB, **arguments)  # type: ignore[arg-type]


def test_image_size_fits_the_efi_default() -> None:
    # A tiny tree still gets an image the efi layout fits on.
    size = image_size(50 * MiB, image_size_gb=None, extra_size_mb=None, efi=True)
    layout = plan(defaults.EFI, size)
    assert layout.partitions[2].size > 0


@pytest.mark.parametrize(
    ("fstype", "kwargs", "expected"),
    [
        ("ext4", {}, "-i 4096 -J size=64"),
        ("ext4", {"user_options": "-m 1", "journal_mb": 32}, "-i 4096 -J size=32 -m 1"),
        ("ext4", {"max_online_resize": 1000}, "-E resize=1000 -i 4096 -J size=64"),
        ("xfs", {"user_options": "-K"}, "-K"),
        ("xfs", {}, ""),
    ],
)
def test_root_mkfs_options(fstype: str, kwargs: dict[str, object], expected: str) -> None:
    assert root_mkfs_options(fstype, **kwargs) == expected  # type: ignore[arg-type]


# --------------------------------------------------------------------------- tree size


def _du_bytes(path: Path) -> int:
    out = subprocess.run(
        ["du", "-a", "-c", "-x", "--block-size=1", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return int(out.splitlines()[-1].split()[0])


def test_tree_size_counts_hard_links_once_and_sparse_files_by_blocks(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "etc").mkdir(parents=True)
    data = tree / "etc" / "data"
    data.write_bytes(os.urandom(256 * 1024))
    os.link(data, tree / "hardlink")
    os.symlink("etc/data", tree / "symlink")
    sparse = tree / "sparse"
    with sparse.open("wb") as handle:
        handle.truncate(64 * MiB)
        handle.write(b"x")
    size = tree_size(tree)
    blocks = sum(
        os.lstat(p).st_blocks * 512 for p in (tree, tree / "etc", data, tree / "symlink", sparse)
    )
    assert size == blocks  # the hard link adds nothing
    assert 256 * 1024 <= size < 64 * MiB  # the sparse file counts what it holds
    if shutil.which("du"):
        assert size == _du_bytes(tree)


def test_tree_size_of_a_file_and_of_a_missing_path(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_bytes(b"x" * 10000)
    assert tree_size(path) == os.lstat(path).st_blocks * 512
    from dibpy.errors import BuildError

    with pytest.raises(BuildError):
        tree_size(tmp_path / "missing")


# --------------------------------------------------------------------------- properties


def _random_size(rng: random.Random) -> str:
    kind = rng.randrange(4)
    if kind == 0:
        return f"{rng.randint(1, 100)}%"
    if kind == 1:
        return f"{rng.randint(1, 3000)}MiB"
    if kind == 2:
        return f"{rng.randint(1, 3000)}MB"
    return f"{rng.randint(1, 4000) * 1000}KiB"


@pytest.mark.parametrize("seed", range(300))
def test_layouts_are_aligned_and_inside_the_disk(seed: int) -> None:
    """Random tables on random disks: placed back to back from 1 MiB (a logical MBR
    partition one MiB, its EBR, after the one before), inside the disk."""
    rng = random.Random(seed)
    label = rng.choice(["mbr", "gpt"])
    sizes = [_random_size(rng) for _ in range(rng.randint(1, 6 if label == "mbr" else 4))]
    primaries = 0
    if label == "mbr":
        primaries = rng.randint(0, min(len(sizes), 4 if len(sizes) <= 4 else 3))
        if primaries < len(sizes):
            primaries = min(primaries, 3)
    items = "".join(
        f"      - {{name: p{i}, size: '{s}'{', flags: [primary]' if i < primaries else ''}}}\n"
        for i, s in enumerate(sizes)
    )
    disk = rng.randint(8, 4096) * MiB + rng.randint(0, 15) * 64 * KiB
    text = table(label, items) + "- mkfs: {name: mkfs_root, base: p0, mount: {mount_point: /}}\n"
    try:
        layout = plan_disk(parse(text), disk)
    except BlockDeviceConfigError as exc:
        assert "partition 'p" in str(exc)
        return
    check_layout(layout)
    end = MiB
    for part in layout.partitions:
        if part.number > 4:
            end += MiB  # the EBR of a logical partition
        assert part.start == end  # one after the other, from 1 MiB
        assert part.start % MiB == 0 and part.size % MiB == 0 and part.size > 0
        end = part.start + part.size
    # GPT keeps the last MiB for the backup table; an MBR partition may reach the end.
    assert end <= (disk - MiB if label == "gpt" else disk)
    if all(size.endswith("%") for size in sizes) and sizes[-1] == "100%":
        # 100% fills DIB's free space: up to 1 MiB before the end. (On GPT DIB subtracts the
        # unfloored sizes, so after earlier percentages up to 1 MiB more per partition is lost.)
        last_mib = disk // MiB - 1
        if label == "mbr" or len(sizes) == 1:
            assert end == last_mib * MiB
        else:
            assert (last_mib - len(sizes)) * MiB < end <= last_mib * MiB
