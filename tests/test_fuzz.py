"""Fuzzing the parsers of user input with hypothesis: whatever the input, the block-device
config parser and the package-list parsers either give an answer or raise dibpy's own error
(an InputError, which the CLI prints as one paragraph with exit code 2), never anything else
(a KeyError, a TypeError, a RecursionError ... would be a traceback for the user).

Damaged root tarballs are fuzzed too: whatever bytes are changed, the archive is refused before
anything is written, or GNU tar extracts nothing that the check did not see."""

from __future__ import annotations

import contextlib
import io
import os
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import block_device_defaults
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dibpy.blockdev.config import parse_block_device_config
from dibpy.blockdev.layout import fstab_text, plan_disk
from dibpy.blockdev.sizes import parse_partition_size, parse_size
from dibpy.elements.packages import map_names, parse_packages, squash
from dibpy.errors import CommandError, DibError, InputError
from dibpy.host.run import Runner
from dibpy.tree.extract import (
    ArchiveError,
    ArchiveFormat,
    extract_root_image,
    list_tar_members,
)

defaults = block_device_defaults()

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- block-device configs ---------------------------------------------------------------

PLUGINS = ["local_loop", "partitioning", "mkfs", "mount", "fstab", "lvm", "bogus"]
KEYS = [
    "name", "base", "size", "label", "partitions", "flags", "type", "opts", "uuid",
    "mount_point", "options", "dump-freq", "fsck-passno", "align", "directory", "mkfs",
    "mount", "fstab", "colour",
]  # fmt: skip
WORDS = [
    "image0", "root", "mkfs_root", "/", "/boot", "none", "ext4", "vfat", "swap", "xfs",
    "mbr", "gpt", "boot", "primary", "100%", "0%", "150%", "50%", "1GiB", "8MiB", "-1",
    "1e400", "nan", "0", "", "EF00", "8300", "zz", "defaults", "550MiB", "1KiB", "1.5",
]  # fmt: skip

scalars = st.one_of(
    st.sampled_from(WORDS),
    st.text(max_size=12),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
)


def _values(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(KEYS + PLUGINS), children, max_size=5),
    )


values = st.recursive(scalars, _values, max_leaves=25)
entries = st.one_of(
    st.dictionaries(st.sampled_from(PLUGINS), values, min_size=1, max_size=2),
    values,
)
configs = st.one_of(st.lists(entries, max_size=6), values)


def parse_or_refuse(text: str) -> None:
    try:
        config = parse_block_device_config(text)
    except InputError:
        return
    for size in (1 << 20, 1 << 30, 1 << 40):
        with contextlib.suppress(InputError):
            fstab_text(plan_disk(config, size))


@FUZZ
@given(configs)
def test_structured_block_device_configs_parse_or_raise_input_error(data: Any) -> None:
    parse_or_refuse(yaml.safe_dump(data, default_flow_style=False))


@FUZZ
@given(st.text(max_size=300))
def test_any_text_as_a_block_device_config_parses_or_raises_input_error(text: str) -> None:
    parse_or_refuse(text)


def mutations(text: str) -> st.SearchStrategy[str]:
    """The default configs, with one line cut, doubled, or its value replaced."""
    lines = text.splitlines()
    return st.tuples(
        st.integers(0, len(lines) - 1),
        st.sampled_from(["cut", "double", "value", "indent"]),
        st.sampled_from(WORDS) | st.text(max_size=8),
    ).map(lambda change: _mutate(lines, *change))


def _mutate(lines: list[str], at: int, how: str, word: str) -> str:
    lines = list(lines)
    if how == "cut":
        del lines[at]
    elif how == "double":
        lines.insert(at, lines[at])
    elif how == "indent":
        lines[at] = "  " + lines[at]
    else:
        key, colon, _ = lines[at].partition(":")
        lines[at] = f"{key}: {word}" if colon else f"{lines[at]} {word}"
    return "\n".join(lines) + "\n"


@FUZZ
@given(
    st.sampled_from([defaults.MBR, defaults.GPT, defaults.EFI, defaults.FALLBACK]).flatmap(
        mutations
    )
)
def test_mutated_default_configs_parse_or_raise_input_error(text: str) -> None:
    parse_or_refuse(text)


@FUZZ
@given(st.one_of(st.text(max_size=20), st.integers(), st.floats()), st.integers(0, 2**50))
def test_sizes_parse_or_raise_input_error(spec: Any, free: int) -> None:
    for parse in (parse_size, lambda s: parse_partition_size(s, free)):
        try:
            size = parse(spec)
        except InputError:
            continue
        assert isinstance(size, int)
        assert size >= 0


# --- package lists ----------------------------------------------------------------------

OPTION_KEYS = ["phase", "uninstall", "build-only", "arch", "not-arch", "when", "bogus"]
OPTION_WORDS = [
    "install", "install.d", "pre-install", "post-install", "root", "cleanup", "bogus",
    "amd64", "arm64, armhf", "X = 1", "X != 1", "Y = 2", "nonsense", "=", "!=",
]  # fmt: skip
option_values = st.one_of(
    st.sampled_from(OPTION_WORDS),
    st.text(max_size=10),
    st.booleans(),
    st.none(),
    st.integers(),
    st.lists(st.sampled_from(OPTION_WORDS) | st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.none(), max_size=2),
)
options = st.one_of(
    st.none(),
    st.dictionaries(st.sampled_from(OPTION_KEYS), option_values, max_size=4),
    st.lists(st.dictionaries(st.sampled_from(OPTION_KEYS), option_values, max_size=3), max_size=3),
    scalars,
)
package_maps = st.one_of(
    st.dictionaries(st.text(max_size=10) | st.integers(), options, max_size=5),
    values,
)


@FUZZ
@given(package_maps, st.sampled_from(["amd64", "arm64"]), st.sampled_from([{}, {"X": "1"}]))
def test_package_lists_parse_or_raise_our_error(
    declared: Any, arch: str, env: dict[str, str]
) -> None:
    try:
        parse_packages("fuzzed", declared)
        result = squash({"fuzzed": declared}, arch, env)
    except InputError:
        return
    for lists in result.values():
        assert all(isinstance(name, str) for name in lists.install + lists.uninstall)


pkg_map_keys = st.sampled_from(["default", "family", "distro", "release", "debian", "bookworm"])
pkg_maps = st.recursive(
    st.one_of(st.none(), st.text(max_size=8), st.integers()),
    lambda children: (
        st.dictionaries(pkg_map_keys | st.text(max_size=4), children, max_size=4)
        | st.lists(children, max_size=3)
    ),
    max_leaves=20,
)


@FUZZ
@given(
    st.lists(st.text(max_size=8), max_size=4),
    pkg_maps,
    st.sampled_from(["debian", "ubuntu", "fedora", "x"]),
    st.sampled_from(["bookworm", "noble"]),
)
def test_pkg_maps_map_or_raise_our_error(
    names: list[str], pkg_map: Any, distro: str, release: str
) -> None:
    try:
        mapped = map_names(names, pkg_map, distro, release)
    except DibError as exc:
        assert isinstance(exc, InputError)
        return
    assert all(isinstance(name, str) for name in mapped)


@pytest.mark.parametrize(
    "pkg_map",
    [
        {"default": ["a"]},
        {"family": {"debian": "not-a-map"}},
        {"release": {"debian": {"bookworm": {"a": 1}}}},
    ],
)
def test_a_malformed_pkg_map_is_an_element_error(pkg_map: Any) -> None:
    with pytest.raises(InputError, match="PKG_MAP"):
        map_names(["a"], pkg_map, "debian", "bookworm")


# --- root tarballs ----------------------------------------------------------------------


def _small_root_tar() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, data, link in [
            ("usr", tarfile.DIRTYPE, b"", ""),
            ("usr/a", tarfile.REGTYPE, b"a" * 700, ""),
            ("bin", tarfile.SYMTYPE, b"", "usr"),
            ("usr/b", tarfile.LNKTYPE, b"", "usr/a"),
            ("etc/passwd", tarfile.REGTYPE, b"root:x:0:0::/root:/bin/sh\n", ""),
            ("usr/sbin/su", tarfile.REGTYPE, b"#!/bin/sh\n", ""),
        ]:
            info = tarfile.TarInfo(name)
            info.type, info.linkname, info.size, info.mode = kind, link, len(data), 0o4755
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


SMALL_ROOT_TAR = _small_root_tar()


def _tree(root: Path) -> set[str]:
    return {
        os.path.relpath(os.path.join(path, name), root)
        for path, dirs, files in os.walk(root)
        for name in dirs + files
    }


def _with_parents(names: list[str]) -> set[str]:
    paths = set()
    for name in names:
        parts = [p for p in name.split("/") if p not in ("", ".")]
        paths.update("/".join(parts[:end]) for end in range(1, len(parts) + 1))
    return paths


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.integers(0, len(SMALL_ROOT_TAR) - 1), st.binary(min_size=1, max_size=8)),
        min_size=1,
        max_size=3,
    ),
    st.one_of(st.none(), st.integers(0, len(SMALL_ROOT_TAR))),
)
def test_a_damaged_tarball_is_refused_or_extracts_only_what_was_checked(
    changes: list[tuple[int, bytes]], cut: int | None
) -> None:
    data = bytearray(SMALL_ROOT_TAR)
    for offset, value in changes:
        data[offset : offset + len(value)] = value
    runner = Runner()
    with tempfile.TemporaryDirectory() as scratch:
        archive, target = Path(scratch, "root.tar"), Path(scratch, "target")
        archive.write_bytes(bytes(data[:cut]))
        try:
            extract_root_image(archive, target, runner)
        except ArchiveError:
            assert not target.exists()  # refused: nothing written
            return
        except CommandError:
            pass  # tar failed while extracting (a hard link to a missing file, say)
        listed = list_tar_members(archive, ArchiveFormat.TAR, runner)
        assert _tree(target) <= _with_parents([m.name for m in listed])
        assert sorted(os.listdir(scratch)) == ["root.tar", "target"]
