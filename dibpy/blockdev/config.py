"""DIB's block-device YAML, parsed and checked (DIB-SPEC section 3.7).

The config is a YAML **list of single-key maps**; each key is a plugin:

- ``local_loop`` — the disk image (``name``, ``size``; dibpy makes exactly one, ``image0``);
- ``partitioning`` — a partition table on a disk (``base``, ``label: mbr|gpt``, ``align``,
  ``partitions: [{name, size, flags, type}]``);
- ``mkfs`` — a file system on a partition or a whole disk (``type``, ``label``, ``opts``,
  ``uuid``);
- ``mount`` — where it is mounted (``mount_point``);
- ``fstab`` — its fstab entry (``options``, ``dump-freq``, ``fsck-passno``);
- ``lvm`` — not supported by dibpy yet (a clear error).

Two notations, which may be mixed, as in DIB (``config.py``, ``recurse_config``):

- **graph form**: every entry names itself (``name``) and its parent (``base``);
- **tree form**: a plugin key nested in an entry becomes an entry of its own, with
  ``base`` = the enclosing entry's name and ``name`` = ``<plugin>_<base>``; a plugin nested
  in a partition of ``partitioning.partitions`` gets the partition's name as base (so the
  tree ``partitions: [{name: root, mkfs: {mount: ...}}]`` gives ``mkfs_root``,
  ``mount_mkfs_root``, ``fstab_mount_mkfs_root``).

``normalise`` does only that conversion (DIB's ``config_tree_to_graph``);
``parse_block_device_config`` also validates everything and fills in the defaults DIB fills
in, so that ``dibpy.blockdev.layout.plan_disk`` can place the result:

- only the mkfs node named ``mkfs_root`` gets the build's root settings (``FS_TYPE``,
  ``--root-label``, ``MKFS_OPTS``: ``RootDefaults``), and only keys it does not set itself;
- a mkfs ``label`` defaults to the node's name (upper-cased for vfat), and must be unique
  and short enough for the file system (ext2/3/4 and swap: 16, xfs: 12, vfat: 11);
- a mkfs ``uuid`` defaults to a fresh random UUID, chosen here so that fstab and the
  bootloader can name the file system; for vfat it is a FAT volume id, ``XXXX-XXXX``;
- ``fstab`` defaults to ``defaults 0 2`` (``sw 0 0`` for swap).

Every mistake is a ``BlockDeviceConfigError`` naming the node and the key and saying how to
fix it. Scalars are read as text (YAML's int and float guessing is off), so a GPT type
``0700`` or an MBR type ``0x83`` means what it says.

Differences from DIB, on purpose: ``lvm`` and more than one disk are refused; a partition
type, uuid, mount point or block size that DIB would only trip over in ``mkfs``/``sgdisk``
is refused up front; mkfs ``opts`` are split on runs of whitespace (DIB splits on single
spaces and passes empty arguments for double spaces).
"""

from __future__ import annotations

import difflib
import logging
import re
import uuid as uuidlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, ClassVar, Literal, TypeVar

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from dibpy.blockdev.sizes import SizeError, check_size_spec, parse_size
from dibpy.errors import InputError

log = logging.getLogger("dibpy.blockdev.config")

# What disk-image-create uses when neither DIB_BLOCK_DEVICE_CONFIG nor an element gives a
# config: one file system (FS_TYPE, default ext4) on the whole disk, no partition table.
FALLBACK = """\
# disk-image-create's built-in fallback: one file system on the whole disk
- local_loop:
    name: image0
    mkfs:
      name: mkfs_root
      mount:
        mount_point: /
        fstab:
          options: "defaults"
          fsck-passno: 1
"""

PLUGINS = ("local_loop", "partitioning", "lvm", "mkfs", "mount", "fstab")
SUPPORTED_PLUGINS = ("local_loop", "partitioning", "mkfs", "mount", "fstab")

ROOT_MKFS = "mkfs_root"  # the one mkfs node the build's root settings apply to
DEFAULT_ROOT_LABEL = "cloudimg-rootfs"
XFS_ROOT_LABEL = "img-rootfs"

# Longest label per file system type (DIB's table plus swap); other types are not checked.
MAX_LABEL_LENGTH: dict[str, int] = {
    "ext2": 16,
    "ext3": 16,
    "ext4": 16,
    "xfs": 12,
    "vfat": 11,
    "fat": 11,
    "swap": 16,
}
VFAT_TYPES = ("vfat", "fat")
UUID_TYPES = ("ext2", "ext3", "ext4", "xfs", "swap", "btrfs")  # take a real UUID
KNOWN_FS_TYPES = (*MAX_LABEL_LENGTH, "btrfs")
GPT_NAME_MAX = 36
GPT_MAX_PARTITIONS = 128
MBR_MAX_PRIMARY = 4  # with logical partitions, the extended one takes a primary slot
MBR_MAX_PARTITIONS = 3 + 64  # three primary and 64 logical (as many as DIB's own tests make)
SECTOR = 512

_FAT_ID = re.compile(r"^([0-9A-Fa-f]{4})-?([0-9A-Fa-f]{4})$")
_GPT_TYPE = re.compile(r"^[0-9A-Fa-f]{4}$")
_MBR_TYPE = re.compile(r"^(0[xX])?[0-9A-Fa-f]{1,2}$")


class BlockDeviceConfigError(InputError):
    """The block-device config is wrong: the message names the node and key to fix."""


# --------------------------------------------------------------------------- YAML


class _TextLoader(yaml.SafeLoader):
    """SafeLoader that leaves numbers as text: ``0700`` stays ``"0700"``, not 448."""


_TextLoader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_yaml(text: str, source: str = "The block-device config") -> Any:
    try:
        return yaml.load(text, Loader=_TextLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or str(exc)
        raise BlockDeviceConfigError(
            f"{source} is not valid YAML{where}: {problem}. It must be a YAML list of "
            "single-key maps such as '- local_loop: {name: image0}'; if you meant a file, "
            "write DIB_BLOCK_DEVICE_CONFIG=file://PATH."
        ) from None


# --------------------------------------------------------------------------- models


def _as_text(value: Any) -> Any:
    """Numbers given by Python callers become text, as YAML read by ``load_yaml`` gives."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def _check_abs_size(value: Any) -> Any:
    if isinstance(value, str):
        try:
            check_size_spec(value, percent_ok=False)
        except SizeError as exc:
            raise ValueError(str(exc)) from None
    return value


def _check_part_size(value: Any) -> Any:
    if isinstance(value, str):
        try:
            check_size_spec(value, percent_ok=True)
        except SizeError as exc:
            raise ValueError(str(exc)) from None
    return value


# Validators run last-listed first: text conversion, then the size check.
AbsoluteSize = Annotated[str, BeforeValidator(_check_abs_size), BeforeValidator(_as_text)]
PartitionSize = Annotated[str, BeforeValidator(_check_part_size), BeforeValidator(_as_text)]
Text = Annotated[str, BeforeValidator(_as_text)]

_MODEL_CONFIG = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class NodeModel(BaseModel):
    """One node of the graph: a ``name`` and (except a disk) the ``base`` it sits on."""

    model_config = _MODEL_CONFIG
    PLUGIN: ClassVar[str] = ""

    name: Text
    base: Text | None = None


class LocalLoopNode(NodeModel):
    """``local_loop``: the disk image file."""

    PLUGIN: ClassVar[str] = "local_loop"

    size: AbsoluteSize | None = None  # default: the computed image size
    directory: Text | None = None
    block_size: int | None = None


class PartitionSpec(BaseModel):
    """One entry of ``partitioning.partitions``; a node too (other nodes name it as base)."""

    model_config = _MODEL_CONFIG

    name: Text
    base: Text | None = None  # always the partitioning's base after normalising
    size: PartitionSize
    flags: tuple[Literal["boot", "primary"], ...] = ()
    type: Text | None = None

    @property
    def boot(self) -> bool:
        return "boot" in self.flags

    @property
    def primary(self) -> bool:
        return "primary" in self.flags


class PartitioningNode(NodeModel):
    """``partitioning``: a partition table on a disk."""

    PLUGIN: ClassVar[str] = "partitioning"

    label: Literal["mbr", "gpt"]
    align: AbsoluteSize | None = None  # MBR only; default 1MiB
    partitions: tuple[PartitionSpec, ...]

    @property
    def alignment(self) -> int:
        """Bytes partitions are aligned to (1 MiB unless an MBR sets ``align``)."""
        if self.label == "mbr" and self.align is not None:
            return parse_size(self.align)
        return 1024 * 1024

    def type_code(self, partition: PartitionSpec) -> str:
        """The partition's type as the table writes it: MBR ``0x83``, GPT ``8300``."""
        return partition_type_code(self.label, partition.type)


class MkfsNode(NodeModel):
    """``mkfs``: a file system. After parsing, ``type``, ``label`` and ``uuid`` are set."""

    PLUGIN: ClassVar[str] = "mkfs"

    type: Text | None = None
    label: Text | None = None
    opts: Text | None = None
    uuid: Text | None = None

    @property
    def fstype(self) -> str:
        return self.type or ""

    @property
    def mkfs_options(self) -> tuple[str, ...]:
        """``opts`` split into arguments."""
        return tuple(self.opts.split()) if self.opts else ()


class MountNode(NodeModel):
    """``mount``: where a file system is mounted (``none`` for swap)."""

    PLUGIN: ClassVar[str] = "mount"

    mount_point: Text


class FstabNode(NodeModel):
    """``fstab``: the fstab entry of a mount."""

    PLUGIN: ClassVar[str] = "fstab"

    options: Text = "defaults"
    dump_freq: int = Field(0, alias="dump-freq", ge=0)
    fsck_passno: int = Field(2, alias="fsck-passno", ge=0)


Node = LocalLoopNode | PartitioningNode | MkfsNode | MountNode | FstabNode
N = TypeVar("N", LocalLoopNode, PartitioningNode, MkfsNode, MountNode, FstabNode)

_MODELS: dict[str, type[NodeModel]] = {
    "local_loop": LocalLoopNode,
    "partitioning": PartitioningNode,
    "mkfs": MkfsNode,
    "mount": MountNode,
    "fstab": FstabNode,
}


def partition_type_code(label: str, given: str | None) -> str:
    """Validate and normalise a partition ``type``: MBR ``"83"``/``"0x83"`` -> ``"0x83"``;
    GPT ``"ef00"`` -> ``"EF00"``. Raises ValueError with the fix in the message."""
    if label == "mbr":
        if given is None:
            return "0x83"
        text = given.strip()
        value = int(text, 16) if _MBR_TYPE.match(text) else 0
        if not 0 < value <= 0xFF:
            raise ValueError(
                f"type {given!r} is not an MBR partition type: give one byte in hex, such as "
                "'0x83' (Linux, the default), '0xef' (EFI system) or '0x82' (swap)"
            )
        return f"0x{value:02x}"
    if given is None:
        return "8300"
    text = given.strip()
    if not _GPT_TYPE.match(text):
        raise ValueError(
            f"type {given!r} is not a GPT partition type: give four hex digits as sgdisk "
            "spells them, such as '8300' (Linux, the default), 'EF00' (EFI system) or 'EF02' "
            "(BIOS boot), without 0x, and quote it in YAML"
        )
    return text.upper()


# --------------------------------------------------------------------------- the config


@dataclass(frozen=True)
class RootDefaults:
    """The build's root settings, which only the node ``mkfs_root`` receives."""

    fs_type: str = "ext4"  # FS_TYPE
    label: str | None = None  # --root-label/ROOT_LABEL; None: cloudimg-rootfs (xfs: img-rootfs)
    mkfs_options: str | None = None  # MKFS_OPTS (see sizes.root_mkfs_options)


@dataclass(frozen=True)
class BlockDeviceConfig:
    """A parsed, checked block-device config: its nodes in normalised order."""

    nodes: tuple[Node, ...]

    def _of(self, cls: type[N]) -> tuple[N, ...]:
        return tuple(node for node in self.nodes if isinstance(node, cls))

    @property
    def local_loops(self) -> tuple[LocalLoopNode, ...]:
        return self._of(LocalLoopNode)

    @property
    def partitionings(self) -> tuple[PartitioningNode, ...]:
        return self._of(PartitioningNode)

    @property
    def mkfs_nodes(self) -> tuple[MkfsNode, ...]:
        return self._of(MkfsNode)

    @property
    def mounts(self) -> tuple[MountNode, ...]:
        return self._of(MountNode)

    @property
    def fstabs(self) -> tuple[FstabNode, ...]:
        return self._of(FstabNode)

    def partitions(self) -> Iterator[tuple[PartitioningNode, PartitionSpec]]:
        for table in self.partitionings:
            for partition in table.partitions:
                yield table, partition

    def node(self, name: str) -> Node | PartitionSpec | None:
        """The node (or partition) called ``name``."""
        for node in self.nodes:
            if node.name == name and not isinstance(node, PartitioningNode):
                return node
        for _, partition in self.partitions():
            if partition.name == name:
                return partition
        return None

    def mkfs_on(self, base: str) -> MkfsNode | None:
        return next((n for n in self.mkfs_nodes if n.base == base), None)

    def mount_of(self, mkfs: MkfsNode) -> MountNode | None:
        return next((n for n in self.mounts if n.base == mkfs.name), None)

    def fstab_of(self, mount: MountNode) -> FstabNode | None:
        return next((n for n in self.fstabs if n.base == mount.name), None)

    def mkfs_at(self, mount_point: str) -> MkfsNode | None:
        """The file system mounted at ``mount_point``."""
        for mount in self.mounts:
            if mount.mount_point == mount_point:
                found = self.node(mount.base or "")
                return found if isinstance(found, MkfsNode) else None
        return None

    # What the driver reads back after ``dib-block-device init`` (DIB-SPEC 1.3 step 11).
    @property
    def root_label(self) -> str:
        root = self.mkfs_at("/")
        return (root.label or "") if root is not None else ""

    @property
    def root_fstype(self) -> str:
        root = self.mkfs_at("/")
        return root.fstype if root is not None else ""

    @property
    def boot_label(self) -> str:
        """The label of the file system mounted at ``/boot``, or ``""``."""
        boot = self.mkfs_at("/boot")
        return (boot.label or boot.name) if boot is not None else ""

    @property
    def mount_points(self) -> tuple[str, ...]:
        """All mount points, in config order (DIB's ``DIB_MOUNTPOINTS``, joined by ``|``)."""
        return tuple(mount.mount_point for mount in self.mounts)

    def to_graph(self) -> list[dict[str, dict[str, Any]]]:
        """The graph form, like DIB's ``config.json``: ``[{plugin: {name, base, ...}}]``.

        Keys the config did not set are left out, except what parsing filled in (the mkfs
        ``type``/``label``/``uuid``, and ``opts`` when ``mkfs_root`` got ``MKFS_OPTS``).
        """
        return [
            {
                type(node).PLUGIN: node.model_dump(
                    mode="json", by_alias=True, exclude_none=True, exclude_unset=True
                )
            }
            for node in self.nodes
        ]


# --------------------------------------------------------------------------- sources


def load_block_device_config(env_value: str | None, element_default: str | None) -> str:
    """The config text, chosen as ``disk-image-create`` chooses it (DIB-SPEC 1.3 step 9).

    1. ``DIB_BLOCK_DEVICE_CONFIG=file://PATH``: the file's content (unreadable: an error);
    2. any other non-empty ``DIB_BLOCK_DEVICE_CONFIG``: the value is the YAML itself;
    3. the block-device element's default config;
    4. DIB's fallback: ``image0`` with ``mkfs_root`` on the whole disk, mounted at ``/``.
    """
    if env_value:
        if env_value.startswith("file://"):
            path = Path(env_value[len("file://") :])
            try:
                return path.read_text(encoding="utf-8")
            except OSError as exc:
                raise BlockDeviceConfigError(
                    f"DIB_BLOCK_DEVICE_CONFIG={env_value} names a file that cannot be read "
                    f"({exc.strerror or exc}). Point it at a readable YAML file "
                    "(file:///absolute/path.yaml), or put the YAML itself in the variable."
                ) from None
            except UnicodeDecodeError:
                raise BlockDeviceConfigError(
                    f"DIB_BLOCK_DEVICE_CONFIG={env_value} names a file that is not UTF-8 "
                    "text. Point it at the YAML block-device config."
                ) from None
        return env_value
    if element_default:
        return element_default
    return FALLBACK


# --------------------------------------------------------------------------- tree -> graph


def _what(plugin: str, name: object) -> str:
    return f"{plugin} node {name!r}" if name is not None else f"a {plugin} entry"


def _check_plugin(key: object, where: str) -> str:
    if key == "lvm":
        raise BlockDeviceConfigError(
            f"Block-device config: {where} uses the lvm plugin, which dibpy does not "
            "support yet. Use plain partitions (partitioning with mkfs on each partition), or "
            "build this image with diskimage-builder."
        )
    if not isinstance(key, str) or key not in PLUGINS:
        hint = _suggest(str(key), SUPPORTED_PLUGINS)
        raise BlockDeviceConfigError(
            f"Block-device config: Config entry is not a plugin value: {where} has the key "
            f"{key!r}{hint}. Each entry of the list is one plugin: "
            f"{', '.join(SUPPORTED_PLUGINS)}."
        )
    return key


def _suggest(word: str, choices: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def normalise(data: Any) -> list[tuple[str, dict[str, Any]]]:
    """DIB's tree -> graph conversion: ``[(plugin, {name, base, ...}), ...]``.

    ``data`` is the loaded YAML. Only the structure is checked here (a list of single-key
    maps whose keys are plugins); keys and values are checked by
    ``parse_block_device_config``. Entries come parent first.
    """
    if data is None:
        raise BlockDeviceConfigError(
            "The block-device config is empty. Give a YAML list of plugins, such as the "
            "block-device-mbr default, or unset DIB_BLOCK_DEVICE_CONFIG to use the default."
        )
    if not isinstance(data, list):
        shown = repr(data)[:80]
        hint = ""
        if isinstance(data, str) and ("/" in data or data.endswith((".yaml", ".yml"))):
            hint = " If this is a path, write DIB_BLOCK_DEVICE_CONFIG=file://PATH."
        elif isinstance(data, dict):
            hint = " Put a '- ' before each plugin, as in '- local_loop:'."
        raise BlockDeviceConfigError(
            f"The block-device config must be a YAML list of single-key maps (one per "
            f"plugin, e.g. '- local_loop: {{name: image0}}'), but it is {shown}.{hint}"
        )
    out: list[tuple[str, dict[str, Any]]] = []
    for index, entry in enumerate(data, start=1):
        where = f"top-level entry {index}"
        if not isinstance(entry, dict):
            raise BlockDeviceConfigError(
                f"Config entry not a dict: {where} is {entry!r}. Each entry is one plugin "
                "key with its settings below it, like '- mkfs: {type: ext4, ...}'."
            )
        if len(entry) != 1:
            keys = ", ".join(repr(k) for k in entry)
            raise BlockDeviceConfigError(
                f"Config entry top-level should be a single dict: {where} has the keys "
                f"{keys}. Start a new list item ('- ') for each plugin, or indent settings "
                "under their plugin."
            )
        ((key, values),) = entry.items()
        _recurse(_check_plugin(key, where), values, None, out, where)
    return out


def _recurse(
    plugin: str,
    values: Any,
    parent: str | None,
    out: list[tuple[str, dict[str, Any]]],
    where: str,
) -> None:
    _check_plugin(plugin, where)
    if not isinstance(values, dict):
        raise BlockDeviceConfigError(
            f"The {plugin} entry in {where} has no settings map (got {values!r}). Indent "
            f"its keys under '{plugin}:', e.g. '{plugin}: {{name: ...}}'."
        )
    for key in ("name", "base"):
        if key in values and not isinstance(values[key], str):
            raise BlockDeviceConfigError(
                f"{_what(plugin, values.get('name'))} in {where}: {key} must be a name "
                f"(text), got {values[key]!r}."
            )
    base = values.get("base", parent)
    if "name" in values:
        name = values["name"]
    elif base is not None:
        name = f"{plugin}_{base}"
    elif plugin == "local_loop":
        raise BlockDeviceConfigError(
            f"The local_loop entry in {where} has no name. Name the disk: "
            "'- local_loop: {name: image0}' (dibpy's disk is image0)."
        )
    else:
        raise BlockDeviceConfigError(
            f"Edge not defined: the {plugin} entry in {where} has neither base nor name, so "
            f"it sits on nothing. Give it 'base: <node>' (e.g. the partition it goes on), or "
            "nest it under that node (tree form)."
        )
    this: dict[str, Any] = {"name": name}
    if base is not None:
        this["base"] = base
    inner = f"{_what(plugin, name)} ({where})"
    children: list[tuple[str, Any, str]] = []
    for key, value in values.items():
        if key in ("name", "base"):
            continue
        if plugin == "partitioning" and key == "partitions":
            this["partitions"] = _partitions(value, base, name, inner, children)
        elif key in PLUGINS:
            children.append((key, value, name))
        else:
            this[key] = value
    out.append((plugin, this))
    for child_plugin, child_values, child_parent in children:
        _recurse(child_plugin, child_values, child_parent, out, inner)


def _partitions(
    value: Any,
    base: str | None,
    table: str,
    where: str,
    children: list[tuple[str, Any, str]],
) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise BlockDeviceConfigError(
            f"{where}: partitions must be a list of partitions ('- name: root ...'), got {value!r}."
        )
    result: list[dict[str, Any]] = []
    for index, partition in enumerate(value, start=1):
        if not isinstance(partition, dict):
            raise BlockDeviceConfigError(
                f"{where}: partition {index} must be a map with name and size, got {partition!r}."
            )
        name = partition.get("name")
        if not isinstance(name, str) or not name:
            raise BlockDeviceConfigError(
                f"{where}: partition {index} has no name. Give each partition a name "
                "(e.g. 'name: root'): file systems refer to it."
            )
        entry: dict[str, Any] = {}
        for key, item in partition.items():
            if key in PLUGINS:
                _check_plugin(key, f"partition {name!r} of partitioning {table!r}")
                children.append((key, item, name))
            else:
                entry[key] = item
        if base is not None:
            entry["base"] = base
        result.append(entry)
    return result


# --------------------------------------------------------------------------- parsing


def parse_block_device_config(
    text: str,
    root: RootDefaults | None = None,
    *,
    source: str = "The block-device config",
    new_uuid: Callable[[], uuidlib.UUID] = uuidlib.uuid4,
) -> BlockDeviceConfig:
    """Parse, normalise and check a block-device config; fill in DIB's defaults.

    ``root``: the build's ``FS_TYPE``/``--root-label``/``MKFS_OPTS`` for ``mkfs_root``.
    ``new_uuid``: where default UUIDs (and FAT volume ids) come from.
    """
    root = root or RootDefaults()
    entries = normalise(load_yaml(text, source))
    nodes: list[Node] = []
    for plugin, raw in entries:
        model = _MODELS[plugin]
        try:
            nodes.append(model.model_validate(raw))  # type: ignore[arg-type]
        except ValidationError as exc:
            raise BlockDeviceConfigError(_explain(exc, plugin, raw)) from None
    config = BlockDeviceConfig(tuple(nodes))
    _check_graph(config)
    config = _resolve_mkfs(config, root, new_uuid)
    _check_mounts(config)
    _check_fstabs(config)
    return config


def _explain(exc: ValidationError, plugin: str, raw: dict[str, Any]) -> str:
    what = _what(plugin, raw.get("name"))
    problems: list[str] = []
    # Unknown keys first: a misspelt key also shows up as a missing one.
    errors = sorted(exc.errors(), key=lambda error: error["type"] != "extra_forbidden")
    for error in errors:
        loc = list(error["loc"])
        where = what
        model: type[BaseModel] = _MODELS[plugin]
        if plugin == "partitioning" and len(loc) >= 2 and loc[0] == "partitions":
            index = loc[1]
            partitions = raw.get("partitions") or []
            pname = (
                partitions[index].get("name")
                if isinstance(index, int) and index < len(partitions)
                else index
            )
            where = f"partition {pname!r} of {what}"
            loc = loc[2:]
            model = PartitionSpec
        key = next((str(part) for part in loc if isinstance(part, str)), "")
        known = [field.alias or name for name, field in model.model_fields.items()]
        kind = error["type"]
        if kind == "extra_forbidden":
            nested = " or a nested plugin (mkfs, mount, fstab)" if plugin != "fstab" else ""
            problems.append(
                f"{where}: unknown key {key!r}{_suggest(key, known + list(SUPPORTED_PLUGINS))}"
                f"; the keys it takes are {', '.join(known)}{nested}"
            )
        elif kind == "missing":
            problems.append(f"{where}: the key {key!r} is required")
        else:
            ctx = error.get("ctx") or {}
            message = str(ctx["error"]) if "error" in ctx else error["msg"]
            problems.append(f"{where}: {key}: {message.rstrip('.')} (got {error['input']!r})")
    return (
        "Block-device config: "
        + "; ".join(problems)
        + ". Fix the config (DIB_BLOCK_DEVICE_CONFIG, or the block-device element's default)."
    )


def _fail(message: str) -> BlockDeviceConfigError:
    return BlockDeviceConfigError(f"Block-device config: {message}")


def _check_graph(config: BlockDeviceConfig) -> None:
    """Names unique, every base defined and of the right kind, one child per slot."""
    owners: dict[str, str] = {}

    def claim(name: str, what: str) -> None:
        if name in owners:
            raise _fail(
                f"Duplicate node name: {name!r} is both {owners[name]} and {what}. Node "
                "names must be unique; rename one (in tree form a nested node is called "
                "<plugin>_<base>, so give it an explicit name)."
            )
        owners[name] = what

    kinds: dict[str, str] = {}
    table_names = {table.name for table in config.partitionings}
    for node in config.nodes:
        if isinstance(node, PartitioningNode):
            for partition in node.partitions:
                claim(partition.name, f"a partition of {_what('partitioning', node.name)}")
                kinds[partition.name] = "partition"
        else:
            claim(node.name, _what(node.PLUGIN, node.name))
            kinds[node.name] = node.PLUGIN

    allowed = {
        "partitioning": ("local_loop",),
        "mkfs": ("partition", "local_loop"),
        "mount": ("mkfs",),
        "fstab": ("mount",),
    }
    taken: dict[str, str] = {}
    for node in config.nodes:
        what = _what(node.PLUGIN, node.name)
        if isinstance(node, LocalLoopNode):
            if node.base is not None:
                raise _fail(
                    f"{what} has base {node.base!r}, but a disk sits on nothing. Make the "
                    "local_loop a top-level entry without base."
                )
            _check_local_loop(node)
            continue
        if node.base is None:
            raise _fail(f"Edge not defined: {what} has no base. Give it 'base: <node>'.")
        if node.base not in kinds:
            if node.base in table_names:
                fix = (
                    f"{node.base!r} is a partitioning, which is not a block device itself: "
                    "nest the node inside one of its partitions, or set base to a "
                    "partition's name"
                )
            else:
                names = ", ".join(sorted(kinds))
                fix = (
                    f"no node is named {node.base!r}{_suggest(node.base, sorted(kinds))}. "
                    f"The nodes are: {names}"
                )
            raise _fail(f"Edge not defined: {node.base} -> {node.name}: {fix}.")
        base_kind = kinds[node.base]
        if base_kind not in allowed[node.PLUGIN]:
            wanted = " or ".join(allowed[node.PLUGIN])
            raise _fail(
                f"{what} has base {node.base!r}, which is a {base_kind}; a {node.PLUGIN} "
                f"must sit on a {wanted}."
            )
        slot = "block" if node.PLUGIN in ("partitioning", "mkfs") else node.PLUGIN
        key = f"{slot}:{node.base}"
        if key in taken:
            raise _fail(
                f"{what} and {taken[key]} both sit on {node.base!r}; a {base_kind} takes only "
                f"one {('partition table or file system' if slot == 'block' else node.PLUGIN)}."
            )
        taken[key] = what
        if isinstance(node, PartitioningNode):
            _check_partitioning(node)


def _check_local_loop(node: LocalLoopNode) -> None:
    what = _what("local_loop", node.name)
    if node.block_size is not None and node.block_size != SECTOR:
        raise _fail(
            f"{what}: block_size {node.block_size} is not supported: dibpy writes disks with "
            "512-byte sectors only. Remove block_size."
        )
    if node.directory is not None:
        raise _fail(
            f"{what}: directory is not supported by dibpy: the image is written where the "
            "build's output goes (-o). Remove directory."
        )
    if node.size is not None:
        size = parse_size(node.size)
        if size <= 0 or size % SECTOR:
            raise _fail(
                f"{what}: size {node.size!r} is {size} bytes, which is not a positive "
                "multiple of 512. Use a size in KiB/MiB/GiB, such as 2GiB."
            )


def _check_partitioning(node: PartitioningNode) -> None:
    what = _what("partitioning", node.name)
    if not node.partitions:
        raise _fail(f"{what} has no partitions. List them under partitions: ('- name: root').")
    limit = MBR_MAX_PARTITIONS if node.label == "mbr" else GPT_MAX_PARTITIONS
    if len(node.partitions) > limit:
        raise _fail(
            f"{what} has {len(node.partitions)} partitions; {node.label.upper()} allows {limit}."
        )
    if node.label == "mbr":
        _check_mbr_primaries(node, what)
    if node.align is not None:
        if node.label == "gpt":
            log.warning("%s: align is for MBR only; GPT partitions are aligned to 1 MiB", what)
        else:
            align = parse_size(node.align)
            if align <= 0 or align % SECTOR:
                raise _fail(
                    f"{what}: align {node.align!r} is {align} bytes; it must be a positive "
                    "multiple of 512 bytes (the default, 1MiB, suits nearly every disk)."
                )
    for partition in node.partitions:
        where = f"partition {partition.name!r} of {what}"
        try:
            node.type_code(partition)
        except ValueError as exc:
            raise _fail(f"{where}: {exc}.") from None
        if node.label == "gpt":
            if partition.primary:
                raise _fail(
                    f"{where}: the flag 'primary' is for MBR partitions only; remove it "
                    "(every GPT partition is a plain partition)."
                )
            if len(partition.name) > GPT_NAME_MAX or '"' in partition.name:
                raise _fail(
                    f"{where}: a GPT partition name has at most {GPT_NAME_MAX} characters "
                    "and no double quote; shorten the name."
                )


def _check_mbr_primaries(node: PartitioningNode, what: str) -> None:
    """As DIB's MBR writer: primary partitions first, at most four, or three when logical
    ones (partitions without the ``primary`` flag) need the extended partition."""
    primaries = [p for p in node.partitions if p.primary]
    logicals = len(node.partitions) - len(primaries)
    slots = MBR_MAX_PRIMARY - (1 if logicals else 0)
    if len(primaries) > slots:
        raise _fail(
            f"{what} has {len(primaries)} primary partitions; an MBR disk holds {slots} "
            + ("beside the extended partition its logical ones need" if logicals else "")
            + ". Drop the 'primary' flag from some (they become logical), or use label: gpt."
        )
    seen_logical = None
    for partition in node.partitions:
        if not partition.primary:
            seen_logical = seen_logical or partition.name
        elif seen_logical:
            raise _fail(
                f"partition {partition.name!r} of {what} is primary but follows the logical "
                f"partition {seen_logical!r}; list the primary partitions (flags: [primary]) "
                "first, as DIB requires."
            )


def _resolve_mkfs(
    config: BlockDeviceConfig, root: RootDefaults, new_uuid: Callable[[], uuidlib.UUID]
) -> BlockDeviceConfig:
    """Apply the root defaults to ``mkfs_root`` and DIB's defaults to every mkfs."""
    labels: dict[str, str] = {}
    resolved: list[Node] = []
    for node in config.nodes:
        if not isinstance(node, MkfsNode):
            resolved.append(node)
            continue
        what = _what("mkfs", node.name)
        fstype, label, opts = node.type, node.label, node.opts
        if node.name == ROOT_MKFS:
            fstype = fstype or root.fs_type
            if label is None:
                default = XFS_ROOT_LABEL if fstype == "xfs" else DEFAULT_ROOT_LABEL
                label = root.label or default
            if opts is None:
                opts = root.mkfs_options
        if not fstype:
            raise _fail(
                f"{what} has no type. Add 'type: ext4' (or xfs, vfat, ...); only the node "
                f"named {ROOT_MKFS} takes its type from FS_TYPE."
            )
        fstype = fstype.strip().lower()
        if fstype not in KNOWN_FS_TYPES:
            log.warning(
                "%s: file system type %r is not one dibpy knows; its label length is not checked",
                what,
                fstype,
            )
        if label is None:
            label = node.name
        if fstype in VFAT_TYPES:
            label = label.upper()
        limit = MAX_LABEL_LENGTH.get(fstype)
        if limit is not None and len(label.encode()) > limit:
            raise _fail(
                f"{what}: label {label!r} too long for filesystem {fstype}: "
                f"{len(label.encode())} > {limit} bytes. Set a shorter 'label' (the default "
                "label is the node's name)."
            )
        if label in labels:
            raise _fail(
                f"File system label {label!r} used more than once ({labels[label]} and "
                f"{what}). Labels must be unique; set 'label' on one of them."
            )
        labels[label] = what
        resolved.append(
            node.model_copy(
                update={
                    "type": fstype,
                    "label": label,
                    "opts": opts,
                    "uuid": _fs_uuid(node, fstype, new_uuid),
                }
            )
        )
    return BlockDeviceConfig(tuple(resolved))


def _fs_uuid(node: MkfsNode, fstype: str, new_uuid: Callable[[], uuidlib.UUID]) -> str:
    what = _what("mkfs", node.name)
    given = node.uuid.strip() if node.uuid is not None else None
    if fstype in VFAT_TYPES:
        if given is None:
            digits = new_uuid().hex[:8].upper()
            return f"{digits[:4]}-{digits[4:]}"
        match = _FAT_ID.match(given)
        if match is None:
            raise _fail(
                f"{what}: uuid {given!r} cannot be a vfat volume id, which is 8 hex digits "
                "written like 1A2B-3C4D. Give one in that form, or leave uuid out."
            )
        return f"{match.group(1)}-{match.group(2)}".upper()
    if given is None:
        return str(new_uuid())
    if fstype in UUID_TYPES:
        try:
            return str(uuidlib.UUID(given))
        except ValueError:
            raise _fail(
                f"{what}: uuid {given!r} is not a UUID (like "
                "b733f302-0336-49c0-85f2-38ca109e8bdb). Give a valid one, or leave uuid "
                "out to get a random one."
            ) from None
    return given


def _check_mounts(config: BlockDeviceConfig) -> None:
    seen: dict[str, str] = {}
    for mount in config.mounts:
        what = _what("mount", mount.name)
        mount_point = mount.mount_point.strip()
        mkfs = config.node(mount.base or "")
        swap = isinstance(mkfs, MkfsNode) and mkfs.fstype == "swap"
        if swap and mount_point != "none":
            raise _fail(
                f"{what}: swap is not mounted; set mount_point: none (got {mount_point!r})."
            )
        if not swap:
            path = PurePosixPath(mount_point)
            if not mount_point.startswith("/") or ".." in path.parts:
                raise _fail(
                    f"{what}: mount_point {mount_point!r} must be an absolute path such as / "
                    "or /boot/efi, without '..' ('none' is for swap only)."
                )
            if mount_point != str(path):
                raise _fail(
                    f"{what}: write mount_point {mount_point!r} as {str(path)!r} (no "
                    "trailing or doubled slashes)."
                )
        if mount_point in seen:
            raise _fail(
                f"Mount point {mount_point!r} specified more than once ({seen[mount_point]} "
                f"and {what}). Each mount point takes one file system."
            )
        seen[mount_point] = what
    if "/" not in seen:
        raise _fail(
            "no file system is mounted at /. Add 'mount: {mount_point: /}' under the root "
            "file system's mkfs."
        )


def _check_fstabs(config: BlockDeviceConfig) -> None:
    for fstab in config.fstabs:
        if not fstab.options or any(c.isspace() for c in fstab.options):
            raise _fail(
                f"{_what('fstab', fstab.name)}: options {fstab.options!r} must be one word, "
                "comma-separated, such as defaults,noatime."
            )


def fstab_entry(config: BlockDeviceConfig, mkfs: MkfsNode) -> tuple[str, int, int] | None:
    """``(options, dump-freq, fsck-passno)`` of the file system's fstab line, or None.

    Unset keys take DIB's defaults: ``defaults 0 2``, or ``sw 0 0`` for swap.
    """
    mount = config.mount_of(mkfs)
    fstab = config.fstab_of(mount) if mount is not None else None
    if fstab is None:
        return None
    given = fstab.model_fields_set
    swap = mkfs.fstype == "swap"
    options = fstab.options if "options" in given or not swap else "sw"
    passno = fstab.fsck_passno if "fsck_passno" in given or not swap else 0
    return options, fstab.dump_freq, passno
