"""dibpy.blockdev.config and sizes, with the block-device elements' defaults: DIB's block-device
YAML, parsed and checked."""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import block_device_defaults

from dibpy.blockdev.config import (
    FALLBACK,
    BlockDeviceConfig,
    BlockDeviceConfigError,
    FstabNode,
    LocalLoopNode,
    MkfsNode,
    MountNode,
    PartitioningNode,
    RootDefaults,
    fstab_entry,
    load_block_device_config,
    load_yaml,
    normalise,
    parse_block_device_config,
)
from dibpy.blockdev.sizes import SizeError, parse_partition_size, parse_size
from dibpy.errors import InputError

# --------------------------------------------------------------------------- helpers


def counting_uuids() -> Callable[[], uuid.UUID]:
    """A deterministic ``new_uuid``: 00000001-0000-4000-8000-000000000001, then ...02."""
    counter = itertools.count(1)

    def new_uuid() -> uuid.UUID:
        n = next(counter)
        return uuid.UUID(f"{n:08x}-0000-4000-8000-{n:012x}")

    return new_uuid


def parse(text: str, root: RootDefaults | None = None) -> BlockDeviceConfig:
    return parse_block_device_config(text, root, new_uuid=counting_uuids())


def graph_set(entries: list[tuple[str, dict[str, Any]]]) -> set[str]:
    """Normalised entries as an order-free set (the graph's node order does not matter)."""
    return {json.dumps({plugin: values}, sort_keys=True) for plugin, values in entries}


def chain(config: BlockDeviceConfig) -> dict[str, tuple[str, str | None]]:
    """{node name: (plugin, base)} for every node and partition."""
    found: dict[str, tuple[str, str | None]] = {}
    for node in config.nodes:
        if isinstance(node, PartitioningNode):
            for part in node.partitions:
                found[part.name] = ("partition", part.base)
        else:
            found[node.name] = (node.PLUGIN, node.base)
    return found


def error_of(text: str, root: RootDefaults | None = None) -> str:
    with pytest.raises(BlockDeviceConfigError) as caught:
        parse(text, root)
    assert isinstance(caught.value, InputError)
    assert caught.value.exit_code == 2
    return str(caught.value)


# --------------------------------------------------------------------------- size strings


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("1GiB", 1073741824),
        ("1G", 10**9),
        ("1GB", 10**9),
        ("1.5MiB", 1572864),
        ("512", 512),
        ("512B", 512),
        ("1KiB", 1024),
        ("1KB", 1000),
        ("1K", 1000),
        ("2.5GiB", int(2.5 * 1024**3)),
        ("7.5GiB", int(7.5 * 1024**3)),
        ("12KB", 12000),
        ("1.75TB", int(1.75 * 1000**4)),
        ("1TiB", 1024**4),
        ("1T", 1000**4),
        ("8MiB", 8 * 1024**2),
        ("550MiB", 550 * 1024**2),
        ("100M", 100 * 1000**2),
        ("MiB", 1024**2),  # DIB: a missing number means 1
        ("10 MiB", 10 * 1024**2),  # DIB allows one space
        (" 4GiB ", 4 * 1024**3),
        (4096, 4096),
    ],
)
def test_parse_size(spec: str | int, expected: int) -> None:
    assert parse_size(spec) == expected


@pytest.mark.parametrize(
    "spec", ["10XB", "1gib", "1.2.3MiB", "-5MiB", "5  MiB", "one GiB", "1e3MiB", "50%"]
)
def test_parse_size_rejects(spec: str) -> None:
    with pytest.raises(SizeError) as caught:
        parse_size(spec)
    assert repr(spec.strip()) in str(caught.value)


@pytest.mark.parametrize(
    ("spec", "free", "expected"),
    [
        ("50%", 1000, 500),
        ("100%", 2 * 1024**3, 2 * 1024**3),
        ("33%", 1000, 330),
        ("0.5%", 1000, 5),
        ("1GiB", 5, 1024**3),  # absolute sizes ignore the free space
    ],
)
def test_parse_partition_size(spec: str, free: int, expected: int) -> None:
    assert parse_partition_size(spec, free) == expected


@pytest.mark.parametrize("spec", ["0%", "101%", "x%", "%"])
def test_parse_partition_size_rejects(spec: str) -> None:
    with pytest.raises(SizeError):
        parse_partition_size(spec, 1000)


# The block-device-* elements' block-device-default.yaml.
_defaults = block_device_defaults()
MBR, GPT, EFI = _defaults.MBR, _defaults.GPT, _defaults.EFI

# --------------------------------------------------------------------------- defaults


def test_mbr_default_graph() -> None:
    config = parse(MBR)
    assert chain(config) == {
        "image0": ("local_loop", None),
        "root": ("partition", "image0"),
        "mkfs_root": ("mkfs", "root"),
        "mount_mkfs_root": ("mount", "mkfs_root"),
        "fstab_mount_mkfs_root": ("fstab", "mount_mkfs_root"),
    }
    (table,) = config.partitionings
    assert table.label == "mbr"
    (root,) = table.partitions
    assert root.size == "100%"
    assert root.flags == ("boot", "primary")
    assert table.type_code(root) == "0x83"
    (mkfs,) = config.mkfs_nodes
    assert (mkfs.type, mkfs.label) == ("ext4", "cloudimg-rootfs")  # from FS_TYPE's default
    (mount,) = config.mounts
    assert mount.mount_point == "/"
    assert fstab_entry(config, mkfs) == ("defaults", 0, 1)


def test_gpt_default_graph() -> None:
    config = parse(GPT)
    assert chain(config) == {
        "image0": ("local_loop", None),
        "BSP": ("partition", "image0"),
        "root": ("partition", "image0"),
        "mkfs_root": ("mkfs", "root"),
        "mount_mkfs_root": ("mount", "mkfs_root"),
        "fstab_mount_mkfs_root": ("fstab", "mount_mkfs_root"),
    }
    (table,) = config.partitionings
    bsp, root = table.partitions
    assert (table.label, bsp.size, table.type_code(bsp)) == ("gpt", "8MiB", "EF02")
    assert (root.size, table.type_code(root)) == ("100%", "8300")
    (mkfs,) = config.mkfs_nodes
    assert fstab_entry(config, mkfs) == ("defaults", 0, 1)


def test_efi_default_graph() -> None:
    config = parse(EFI)
    assert chain(config) == {
        "image0": ("local_loop", None),
        "ESP": ("partition", "image0"),
        "BSP": ("partition", "image0"),
        "root": ("partition", "image0"),
        "mkfs_ESP": ("mkfs", "ESP"),
        "mount_mkfs_ESP": ("mount", "mkfs_ESP"),
        "fstab_mount_mkfs_ESP": ("fstab", "mount_mkfs_ESP"),
        "mkfs_root": ("mkfs", "root"),
        "mount_mkfs_root": ("mount", "mkfs_root"),
        "fstab_mount_mkfs_root": ("fstab", "mount_mkfs_root"),
    }
    (table,) = config.partitionings
    esp, bsp, root = table.partitions
    assert [(p.name, p.size, table.type_code(p)) for p in (esp, bsp, root)] == [
        ("ESP", "550MiB", "EF00"),
        ("BSP", "8MiB", "EF02"),
        ("root", "100%", "8300"),
    ]
    esp_fs = config.mkfs_on("ESP")
    assert esp_fs is not None
    assert (esp_fs.type, esp_fs.label) == ("vfat", "MKFS_ESP")
    assert config.mkfs_at("/boot/efi") == esp_fs
    assert fstab_entry(config, esp_fs) == ("defaults", 0, 2)
    root_fs = config.mkfs_at("/")
    assert root_fs is not None
    assert (root_fs.name, root_fs.type, root_fs.label) == ("mkfs_root", "ext4", "cloudimg-rootfs")
    assert fstab_entry(config, root_fs) == ("defaults", 0, 1)
    assert config.mount_points == ("/boot/efi", "/")


def test_fallback_is_a_bare_file_system() -> None:
    config = parse(FALLBACK)
    assert chain(config) == {
        "image0": ("local_loop", None),
        "mkfs_root": ("mkfs", "image0"),
        "mount_mkfs_root": ("mount", "mkfs_root"),
        "fstab_mount_mkfs_root": ("fstab", "mount_mkfs_root"),
    }
    assert config.partitionings == ()
    assert config.root_fstype == "ext4"


# --------------------------------------------------------------------------- tree and graph

DOC_TREE = """
- mkfs:
    name: root_fs
    base: root_part
    mount:
      mount_point: /
"""
DOC_GRAPH = """
- mkfs:
    name: root_fs
    base: root_part
- mount:
    name: mount_root_fs
    base: root_fs
    mount_point: /
"""

# DIB's tests/config/deep_tree.yaml and deep_graph.yaml
DEEP_TREE = """
- local_loop:
    name: image0

- partitioning:
    name: mbr
    base: image0
    label: mbr
    partitions:
      - name: root
        flags: [ boot, primary ]
        size: 100%
        mkfs:
          type: ext4
          mount:
            mount_point: /
            fstab:
              options: "defaults"
              fsck-passno: 1
"""
DEEP_GRAPH = """
- local_loop:
    name: image0

- partitioning:
    base: image0
    name: mbr
    label: mbr
    partitions:
      - flags: [boot, primary]
        name: root
        base: image0
        size: 100%

- mount:
    base: mkfs_root
    name: mount_mkfs_root
    mount_point: /

- fstab:
    base: mount_mkfs_root
    name: fstab_mount_mkfs_root
    fsck-passno: 1
    options: defaults

- mkfs:
    base: root
    name: mkfs_root
    type: ext4
"""

# DIB's tests/config/multiple_partitions_tree.yaml / _graph.yaml, with real UUIDs.
MULTI_TREE = """
- local_loop:
    name: image0

- partitioning:
    base: image0
    name: mbr
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
              options: "defaults"
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
        size: 1%
        mkfs:
          type: swap
          uuid: 33333333-3333-4333-8333-333333333333
          mount:
            mount_point: none
            fstab:
              fsck-passno: 0
              options: "sw"
"""
MULTI_GRAPH = """
- local_loop:
    name: image0

- partitioning:
    base: image0
    name: mbr
    label: mbr
    partitions:
      - name: root
        base: image0
        flags: [boot, primary]
        size: 54%
      - name: var
        base: image0
        size: 40%
      - name: var_log
        base: image0
        size: 5%
      - name: swap
        base: image0
        size: 1%

- mkfs:
    base: root
    name: mkfs_root
    type: xfs
    uuid: 11111111-1111-4111-8111-111111111111

- mount:
    base: mkfs_root
    name: mount_mkfs_root
    mount_point: /

- fstab:
    base: mount_mkfs_root
    name: fstab_mount_mkfs_root
    fsck-passno: 1
    options: defaults

- mkfs:
    base: var
    name: mkfs_var
    type: xfs
    uuid: 22222222-2222-4222-8222-222222222222

- mount:
    base: mkfs_var
    name: mount_mkfs_var
    mount_point: /var

- fstab:
    base: mount_mkfs_var
    name: fstab_mount_mkfs_var
    fsck-passno: 1
    options: defaults

- mkfs:
    base: var_log
    name: mkfs_var_log
    type: vfat
    label: varlog

- mount:
    base: mkfs_var_log
    name: mount_mkfs_var_log
    mount_point: /var/log

- fstab:
    base: mount_mkfs_var_log
    name: fstab_mount_mkfs_var_log
    fsck-passno: 1
    options: defaults

- mkfs:
    base: swap
    name: mkfs_swap
    type: swap
    uuid: 33333333-3333-4333-8333-333333333333

- mount:
    base: mkfs_swap
    name: mount_mkfs_swap
    mount_point: none

- fstab:
    base: mount_mkfs_swap
    name: fstab_mount_mkfs_swap
    fsck-passno: 0
    options: sw
"""


@pytest.mark.parametrize(
    ("tree", "graph"),
    [(DOC_TREE, DOC_GRAPH), (DEEP_TREE, DEEP_GRAPH), (MULTI_TREE, MULTI_GRAPH)],
    ids=["doc-example", "deep", "multiple-partitions"],
)
def test_tree_form_normalises_to_graph_form(tree: str, graph: str) -> None:
    assert graph_set(normalise(load_yaml(tree))) == graph_set(normalise(load_yaml(graph)))


def test_graph_form_is_unchanged_by_normalising() -> None:
    data = load_yaml(DEEP_GRAPH)
    entries = normalise(data)
    assert graph_set(entries) == {json.dumps(entry, sort_keys=True) for entry in data}


@pytest.mark.parametrize(
    ("tree", "graph"),
    [(DEEP_TREE, DEEP_GRAPH), (MULTI_TREE, MULTI_GRAPH)],
    ids=["deep", "multiple-partitions"],
)
def test_tree_and_graph_parse_to_the_same_config(tree: str, graph: str) -> None:
    from_tree = {json.dumps(n, sort_keys=True) for n in parse(tree).to_graph()}
    from_graph = {json.dumps(n, sort_keys=True) for n in parse(graph).to_graph()}
    assert from_tree == from_graph


def test_tree_names_are_plugin_underscore_base() -> None:
    entries = normalise(load_yaml(DEEP_TREE))
    names = [(plugin, values["name"], values.get("base")) for plugin, values in entries]
    assert names == [
        ("local_loop", "image0", None),
        ("partitioning", "mbr", "image0"),
        ("mkfs", "mkfs_root", "root"),
        ("mount", "mount_mkfs_root", "mkfs_root"),
        ("fstab", "fstab_mount_mkfs_root", "mount_mkfs_root"),
    ]


def test_partition_base_is_the_partitionings_base() -> None:
    # DIB overwrites a partition's base with the partitioning's.
    entries = normalise(
        load_yaml(
            """
- partitioning:
    base: image0
    label: gpt
    partitions:
      - {name: root, base: elsewhere, size: 100%}
"""
        )
    )
    ((plugin, values),) = entries
    assert plugin == "partitioning"
    assert values["name"] == "partitioning_image0"
    assert values["partitions"] == [{"name": "root", "base": "image0", "size": "100%"}]


def test_mixed_tree_and_graph_forms() -> None:
    config = parse(
        """
- local_loop:
    name: image0
    partitioning:
      label: gpt
      partitions:
        - name: ESP
          type: EF00
          size: 100MiB
        - name: root
          size: 100%
          mkfs:
            type: ext4
            mount:
              mount_point: /
- mkfs:
    name: efi_fs
    base: ESP
    type: vfat
    label: efi
- mount:
    name: efi_mnt
    base: efi_fs
    mount_point: /boot/efi
    fstab:
      options: umask=0077
"""
    )
    assert chain(config) == {
        "image0": ("local_loop", None),
        "ESP": ("partition", "image0"),
        "root": ("partition", "image0"),
        "mkfs_root": ("mkfs", "root"),
        "mount_mkfs_root": ("mount", "mkfs_root"),
        "efi_fs": ("mkfs", "ESP"),
        "efi_mnt": ("mount", "efi_fs"),
        "fstab_efi_mnt": ("fstab", "efi_mnt"),
    }
    efi = config.mkfs_at("/boot/efi")
    assert efi is not None
    assert efi.label == "EFI"  # vfat labels are upper-cased
    assert fstab_entry(config, efi) == ("umask=0077", 0, 2)
    root = config.mkfs_at("/")
    assert root is not None
    assert fstab_entry(config, root) is None  # a mount without fstab node: no fstab line


def test_scalars_are_read_as_text() -> None:
    # YAML 1.1 would make 0700 the octal 448 and 0x0c the int 12.
    config = parse(
        """
- local_loop:
    name: image0
    partitioning:
      label: gpt
      partitions:
        - {name: data, type: 0700, size: 10MiB}
        - {name: linux, type: 8300, size: 100%, mkfs: {type: ext4, mount: {mount_point: /}}}
"""
    )
    (table,) = config.partitionings
    assert [table.type_code(p) for p in table.partitions] == ["0700", "8300"]
    mbr = parse(
        """
- local_loop:
    name: image0
    partitioning:
      label: mbr
      partitions:
        - {name: fat, type: 0x0c, size: 10MiB, flags: [primary]}
        - {name: linux, type: 83, size: 100%, mkfs: {type: ext4, mount: {mount_point: /}}}
"""
    )
    (table,) = mbr.partitionings
    assert [table.type_code(p) for p in table.partitions] == ["0x0c", "0x83"]


# --------------------------------------------------------------------------- root defaults

TWO_FS = """
- local_loop:
    name: image0
    partitioning:
      label: gpt
      partitions:
        - name: root
          size: 50%
          mkfs:
            mount: {mount_point: /}
        - name: data
          size: 100%
          mkfs:
            type: ext4
            mount: {mount_point: /srv}
"""


def test_root_defaults_only_for_mkfs_root() -> None:
    root = RootDefaults(fs_type="ext3", label="myroot", mkfs_options="-i 16384  -m 0")
    config = parse(TWO_FS, root)
    mkfs_root = config.mkfs_on("root")
    data = config.mkfs_on("data")
    assert mkfs_root is not None and data is not None
    assert mkfs_root.name == "mkfs_root"
    assert (mkfs_root.type, mkfs_root.label, mkfs_root.opts) == (
        "ext3",
        "myroot",
        root.mkfs_options,
    )
    assert mkfs_root.mkfs_options == ("-i", "16384", "-m", "0")
    assert (data.type, data.label, data.opts) == ("ext4", "mkfs_data", None)
    assert data.mkfs_options == ()


def test_mkfs_not_named_mkfs_root_gets_no_root_defaults() -> None:
    text = TWO_FS.replace("      - name: root\n", "      - name: rootfs\n")
    message = error_of(text, RootDefaults(fs_type="xfs"))
    assert "mkfs node 'mkfs_rootfs' has no type" in message
    assert "mkfs_root" in message


def test_root_defaults_do_not_override_what_mkfs_root_sets() -> None:
    # block-device-gpt fixes ext4: FS_TYPE=xfs is ignored, as in DIB.
    config = parse(GPT, RootDefaults(fs_type="xfs", mkfs_options="-K"))
    root = config.mkfs_at("/")
    assert root is not None
    assert root.type == "ext4"
    assert root.label == "cloudimg-rootfs"
    assert root.opts == "-K"  # the gpt config sets no opts
    explicit = parse(
        """
- local_loop:
    name: image0
    mkfs:
      name: mkfs_root
      type: ext4
      label: mine
      opts: "-i 8192"
      mount: {mount_point: /}
""",
        RootDefaults(fs_type="xfs", label="theirs", mkfs_options="-K"),
    )
    (mkfs,) = explicit.mkfs_nodes
    assert (mkfs.type, mkfs.label, mkfs.opts) == ("ext4", "mine", "-i 8192")


@pytest.mark.parametrize(("fs_type", "label"), [("ext4", "cloudimg-rootfs"), ("xfs", "img-rootfs")])
def test_root_label_default_depends_on_type(fs_type: str, label: str) -> None:
    config = parse(MBR, RootDefaults(fs_type=fs_type))
    assert config.root_fstype == fs_type
    assert config.root_label == label


# --------------------------------------------------------------------------- mkfs, fstab


def test_mkfs_defaults_label_uuid_and_vfat_volume_id() -> None:
    config = parse(
        """
- local_loop:
    name: image0
    partitioning:
      label: gpt
      partitions:
        - name: ESP
          type: EF00
          size: 64MiB
          mkfs: {type: vfat, mount: {mount_point: /boot/efi}}
        - name: boot
          size: 256MiB
          mkfs: {type: ext2, mount: {mount_point: /boot}}
        - name: root
          size: 100%
          mkfs: {mount: {mount_point: /}}
"""
    )
    esp, boot, root = config.mkfs_at("/boot/efi"), config.mkfs_at("/boot"), config.mkfs_at("/")
    assert esp is not None and boot is not None and root is not None
    assert esp.label == "MKFS_ESP"
    assert esp.uuid == "0000-0001"  # the first uuid's first 8 hex digits
    assert boot.label == "mkfs_boot"
    assert boot.uuid == "00000002-0000-4000-8000-000000000002"
    assert root.uuid == "00000003-0000-4000-8000-000000000003"
    assert config.boot_label == "mkfs_boot"


def test_random_uuids_by_default() -> None:
    first = parse_block_device_config(EFI)
    second = parse_block_device_config(EFI)
    esp = first.mkfs_at("/boot/efi")
    root = first.mkfs_at("/")
    assert esp is not None and root is not None and esp.uuid and root.uuid
    assert len(esp.uuid) == 9 and esp.uuid[4] == "-"
    int(esp.uuid.replace("-", ""), 16)
    assert uuid.UUID(root.uuid).version == 4
    other = second.mkfs_at("/")
    assert other is not None
    assert other.uuid != root.uuid


@pytest.mark.parametrize(
    ("given", "expected"), [("1a2b-3c4d", "1A2B-3C4D"), ("1A2B3C4D", "1A2B-3C4D")]
)
def test_vfat_uuid_given(given: str, expected: str) -> None:
    text = EFI.replace("type: vfat", f"type: vfat\n          uuid: {given}")
    esp = parse(text).mkfs_at("/boot/efi")
    assert esp is not None
    assert esp.uuid == expected


def test_uuid_is_normalised() -> None:
    text = GPT.replace(
        "type: ext4", "type: ext4\n          uuid: B733F302-0336-49C0-85F2-38CA109E8BDB"
    )
    root = parse(text).mkfs_at("/")
    assert root is not None
    assert root.uuid == "b733f302-0336-49c0-85f2-38ca109e8bdb"


def test_fstab_defaults() -> None:
    config = parse(
        """
- local_loop:
    name: image0
    partitioning:
      label: gpt
      partitions:
        - name: root
          size: 90%
          mkfs: {mount: {mount_point: /, fstab: {}}}
        - name: swap
          size: 100%
          type: '8200'
          mkfs: {type: swap, mount: {mount_point: none, fstab: {}}}
"""
    )
    root, swap = config.mkfs_on("root"), config.mkfs_on("swap")
    assert root is not None and swap is not None
    assert fstab_entry(config, root) == ("defaults", 0, 2)
    assert fstab_entry(config, swap) == ("sw", 0, 0)
    (fstab, _) = config.fstabs
    assert isinstance(fstab, FstabNode)


def test_node_types_and_lookup() -> None:
    config = parse(EFI)
    assert [type(n) for n in config.nodes[:2]] == [LocalLoopNode, PartitioningNode]
    assert isinstance(config.node("mkfs_root"), MkfsNode)
    assert isinstance(config.node("mount_mkfs_root"), MountNode)
    assert config.node("ESP") is not None
    assert config.node("partitioning_image0") is None  # a partitioning is not a node
    assert config.node("nothing") is None


# --------------------------------------------------------------------------- errors


def test_unknown_key_is_named_with_its_node() -> None:
    message = error_of(
        """
- local_loop:
    name: image0
    mkfs:
      name: mkfs_root
      lable: x
      mount: {mount_point: /}
"""
    )
    assert "mkfs node 'mkfs_root'" in message
    assert "unknown key 'lable'" in message
    assert "did you mean 'label'" in message


def test_unknown_key_in_a_partition() -> None:
    message = error_of(MBR.replace("size: 100%", "sise: 100%"))
    assert "partition 'root' of partitioning node 'partitioning_image0'" in message
    assert "unknown key 'sise'" in message
    assert "did you mean 'size'" in message


def test_unknown_key_in_fstab() -> None:
    message = error_of(MBR.replace("fsck-passno", "fsck_pass"))
    assert "fstab node 'fstab_mount_mkfs_root'" in message
    assert "unknown key 'fsck_pass'" in message


def test_misspelt_nested_plugin_is_an_unknown_key() -> None:
    message = error_of(MBR.replace("          mount:", "          mnt:"))
    assert "mkfs node 'mkfs_root'" in message
    assert "unknown key 'mnt'" in message


def test_missing_base() -> None:
    message = error_of(
        """
- local_loop: {name: image0}
- mkfs: {name: mkfs_root, type: ext4}
- mount: {name: m, base: mkfs_root, mount_point: /}
"""
    )
    assert "Edge not defined" in message
    assert "mkfs node 'mkfs_root' has no base" in message


def test_entry_with_neither_name_nor_base() -> None:
    message = error_of("- local_loop: {name: image0}\n- mkfs: {type: ext4}\n")
    assert "Edge not defined" in message
    assert "neither base nor name" in message


def test_base_names_an_undefined_node() -> None:
    message = error_of(
        """
- local_loop: {name: image0}
- mkfs: {name: mkfs_root, base: imag0, mount: {mount_point: /}}
"""
    )
    assert "Edge not defined: imag0 -> mkfs_root" in message
    assert "did you mean 'image0'" in message


def test_base_names_a_partitioning() -> None:
    message = error_of(
        """
- local_loop: {name: image0}
- partitioning:
    base: image0
    label: gpt
    partitions: [{name: root, size: 100%}]
    mkfs: {mount: {mount_point: /}}
"""
    )
    assert "Edge not defined: partitioning_image0 -> mkfs_partitioning_image0" in message
    assert "is a partitioning" in message


def test_base_of_the_wrong_kind() -> None:
    message = error_of(
        """
- local_loop:
    name: image0
    mkfs:
      name: mkfs_root
      mount: {mount_point: /}
- mount: {name: bad, base: image0, mount_point: /srv}
"""
    )
    assert "mount node 'bad' has base 'image0', which is a local_loop" in message


def test_duplicate_name() -> None:
    message = error_of(
        """
- local_loop:
    name: image0
    partitioning:
      label: gpt
      partitions:
        - {name: this_is_a_duplicate, size: 10MiB}
        - {name: this_is_a_duplicate, size: 100%, mkfs: {mount: {mount_point: /}}}
"""
    )
    assert "Duplicate node name: 'this_is_a_duplicate'" in message


def test_two_file_systems_on_one_partition() -> None:
    message = error_of(
        MBR
        + """
- mkfs: {name: other, base: root, type: ext4}
"""
    )
    assert "both sit on 'root'" in message


def test_duplicate_mount_point() -> None:
    message = error_of(
        """
- local_loop:
    name: image0
    partitioning:
      label: gpt
      partitions:
        - {name: a, size: 50%, mkfs: {type: ext4, mount: {mount_point: /}}}
        - {name: b, size: 100%, mkfs: {type: ext4, mount: {mount_point: /}}}
"""
    )
    assert "Mount point '/' specified more than once" in message
    assert "mount_mkfs_a" in message and "mount_mkfs_b" in message


@pytest.mark.parametrize("mount_point", ["var", "/var/", "/var/../etc", "none"])
def test_bad_mount_point(mount_point: str) -> None:
    message = error_of(
        TWO_FS.replace("mount_point: /srv", f"mount_point: '{mount_point}'"),
    )
    assert "mount node 'mount_mkfs_data'" in message


def test_no_root_mount() -> None:
    message = error_of(MBR.replace("mount_point: /", "mount_point: /srv"))
    assert "no file system is mounted at /" in message


def test_bad_size_string() -> None:
    message = error_of(GPT.replace("size: 8MiB", "size: 8XiB"))
    assert "partition 'BSP'" in message
    assert "'8XiB'" in message
    assert "unknown unit 'XiB'" in message


def test_bad_local_loop_size() -> None:
    message = error_of(MBR.replace("name: image0", "name: image0\n    size: 50%"))
    assert "local_loop node 'image0'" in message
    assert "percentage" in message


@pytest.mark.parametrize(
    ("fstype", "label", "limit"),
    [("xfs", "abcdefghijklm", 12), ("ext4", "a" * 17, 16), ("vfat", "abcdefghijkl", 11)],
)
def test_label_too_long(fstype: str, label: str, limit: int) -> None:
    text = GPT.replace("type: ext4", f"type: {fstype}\n          label: {label}")
    message = error_of(text)
    assert "mkfs node 'mkfs_root'" in message
    assert "too long for filesystem" in message
    assert f"> {limit}" in message


def test_default_label_too_long() -> None:
    text = EFI.replace("name: ESP", "name: EFI_SYSTEM")  # MKFS_EFI_SYSTEM: 15 > 11
    message = error_of(text)
    assert "'MKFS_EFI_SYSTEM' too long for filesystem vfat" in message


def test_duplicate_labels() -> None:
    text = TWO_FS.replace("type: ext4", "type: ext4\n            label: cloudimg-rootfs")
    message = error_of(text)
    assert "label 'cloudimg-rootfs' used more than once" in message


def test_not_yaml() -> None:
    message = error_of("- local_loop: [name: image0\n")
    assert "not valid YAML" in message
    assert "line" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "is empty"),
        ("local_loop: {name: image0}", "must be a YAML list"),
        ("/etc/dib/disk.yaml", "file://PATH"),
        ("- just a string", "Config entry not a dict"),
        ("- {local_loop: {name: image0}, mkfs: {}}", "should be a single dict"),
        ("- local_loop:", "has no settings map"),
        ("- local_loop: {size: 1GiB}", "has no name"),
    ],
)
def test_bad_structure(text: str, expected: str) -> None:
    assert expected in error_of(text)


def test_lvm_is_not_supported() -> None:
    assert "lvm plugin, which dibpy does not support yet" in error_of(
        "- local_loop: {name: image0}\n- lvm: {name: lvm, pvs: []}\n"
    )
    nested = error_of(MBR.replace("        mkfs:", "        lvm: {}\n        mkfs:"))
    assert "lvm plugin" in nested
    assert "partition 'root'" in nested


def test_unknown_top_level_plugin() -> None:
    message = error_of("- local_lop: {name: image0}\n")
    assert "not a plugin value" in message
    assert "'local_lop'" in message
    assert "did you mean 'local_loop'" in message


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("label: gpt", "label: dos"), "label"),
        (("type: 'EF02'", "type: '0xEF02'"), "not a GPT partition type"),
        (("type: 'EF02'", "type: 'EF2'"), "not a GPT partition type"),
        (("flags: [ boot ]", "flags: [ boot, primary ]"), "'primary' is for MBR"),
        (("flags: [ boot ]", "flags: [ bootable ]"), "'boot' or 'primary'"),
    ],
)
def test_bad_gpt_partition(change: tuple[str, str], expected: str) -> None:
    message = error_of(GPT.replace(*change))
    assert expected in message


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("size: 100%", "size: 100%\n        type: '0x183'"), "not an MBR partition type"),
        (("size: 100%", "size: 100%\n        type: 'zz'"), "not an MBR partition type"),
        (("label: mbr", "label: mbr\n    align: 1000"), "multiple of 512"),
    ],
)
def test_bad_mbr_partitioning(change: tuple[str, str], expected: str) -> None:
    assert expected in error_of(MBR.replace(*change))


def test_more_than_four_primary_mbr_partitions() -> None:
    parts = "".join(f"      - {{name: p{i}, size: 10MiB, flags: [primary]}}\n" for i in range(4))
    text = MBR.replace("    partitions:\n", "    partitions:\n" + parts)
    message = error_of(text)
    assert "5 primary partitions; an MBR disk holds 4" in message


def test_three_primaries_beside_logical_partitions() -> None:
    parts = "".join(f"      - {{name: p{i}, size: 10MiB, flags: [primary]}}\n" for i in range(3))
    parts += "      - {name: logical, size: 10MiB}\n"
    text = MBR.replace("    partitions:\n", "    partitions:\n" + parts)
    message = error_of(text)
    assert "4 primary partitions; an MBR disk holds 3 beside the extended partition" in message


def test_a_primary_partition_after_a_logical_one() -> None:
    text = MBR.replace("    partitions:\n", "    partitions:\n      - {name: data, size: 10MiB}\n")
    message = error_of(text)
    assert "is primary but follows the logical partition 'data'" in message


def test_bad_uuids() -> None:
    ext4 = GPT.replace("type: ext4", "type: ext4\n          uuid: root-uuid-1234")
    assert "is not a UUID" in error_of(ext4)
    vfat = EFI.replace("type: vfat", "type: vfat\n          uuid: 1234")
    assert "vfat volume id" in error_of(vfat)


def test_swap_mount_point_must_be_none() -> None:
    text = TWO_FS.replace("type: ext4", "type: swap")
    assert "swap is not mounted" in error_of(text)


def test_unsupported_local_loop_keys() -> None:
    assert "512-byte sectors" in error_of(
        MBR.replace("name: image0", "name: image0\n    block_size: 4096")
    )
    assert "directory is not supported" in error_of(
        MBR.replace("name: image0", "name: image0\n    directory: /var/tmp")
    )


def test_bad_fstab_values() -> None:
    assert "fsck-passno" in error_of(MBR.replace("fsck-passno: 1", "fsck-passno: x"))
    assert "options" in error_of(MBR.replace('"defaults"', '"defaults, ro"'))


# --------------------------------------------------------------------------- config source


def test_config_source_file(tmp_path: Path) -> None:
    path = tmp_path / "disk.yaml"
    path.write_text(GPT)
    assert load_block_device_config(f"file://{path}", MBR) == GPT


def test_config_source_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(BlockDeviceConfigError) as caught:
        load_block_device_config(f"file://{tmp_path}/missing.yaml", MBR)
    assert isinstance(caught.value, InputError)
    assert "missing.yaml" in str(caught.value)
    assert "cannot be read" in str(caught.value)


def test_config_source_order() -> None:
    literal = "- local_loop: {name: image0}"
    assert load_block_device_config(literal, MBR) == literal
    assert load_block_device_config("", MBR) == MBR
    assert load_block_device_config(None, EFI) == EFI
    assert load_block_device_config(None, None) == FALLBACK
    assert load_block_device_config("", "") == FALLBACK


def test_every_default_is_plain_yaml() -> None:
    # Readable by any YAML tool, e.g. to hand to DIB itself.
    for text in (MBR, GPT, EFI, FALLBACK):
        assert isinstance(yaml.safe_load(text), list)
