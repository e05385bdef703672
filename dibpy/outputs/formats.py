"""Turning the finished tree (or the assembled disk) into the requested outputs, each written
beside its final path and renamed into place only when complete."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dibpy.errors import BuildError, InputError
from dibpy.host.run import Runner
from dibpy.outputs.files import OutputFile

log = logging.getLogger("dibpy.outputs.formats")


@dataclass(frozen=True)
class OutputOptions:
    """How disk formats are written (``-u``, ``--qemu-img-options``)."""

    compress: bool = True
    qemu_img_options: str = ""


TreeWriter = Callable[[Path, Path, Runner], None]
DiskWriter = Callable[[Path, Path, Runner, OutputOptions], None]

TAR_ARGS = ["--numeric-owner", "--xattrs", "--xattrs-include=*"]


def write_tar(tree: Path, destination: Path, runner: Runner) -> None:
    """A tarball of the tree with numeric owners and xattrs, as DIB's ``-t tar``."""
    runner.run(["tar", *TAR_ARGS, "-C", tree, "-cf", destination, "."])


def write_tgz(tree: Path, destination: Path, runner: Runner) -> None:
    runner.run(["tar", *TAR_ARGS, "-C", tree, "-czf", destination, "."])


def write_squashfs(tree: Path, destination: Path, runner: Runner) -> None:
    runner.run(["mksquashfs", tree, destination, "-comp", "xz", "-noappend", "-no-progress"])


CONVERT_COROUTINES = 8


def _qemu_img(fmt: str) -> DiskWriter:
    def write(raw: Path, destination: Path, runner: Runner, options: OutputOptions) -> None:
        argv: list[str | Path] = ["qemu-img", "convert", "-O", fmt]
        if fmt == "qcow2" and options.compress:
            # Compression is the slow part: several coroutines writing out of order let
            # qemu-img compress clusters on every core (DIB's plain -c uses one).
            argv += ["-c", "-m", str(CONVERT_COROUTINES), "-W"]
        if options.qemu_img_options:
            argv += ["-o", options.qemu_img_options]
        runner.run([*argv, raw, destination])

    return write


def write_raw(raw: Path, destination: Path, runner: Runner, options: OutputOptions) -> None:
    """The assembled disk itself, copied sparsely (the raw file stays for other formats)."""
    runner.run(["cp", "--sparse=always", raw, destination])


TREE_WRITERS: dict[str, TreeWriter] = {
    "tar": write_tar,
    "tgz": write_tgz,
    "squashfs": write_squashfs,
}
DISK_WRITERS: dict[str, DiskWriter] = {
    "raw": write_raw,
    "qcow2": _qemu_img("qcow2"),
    "vhd": _qemu_img("vpc"),
    "vmdk": _qemu_img("vmdk"),
}


def needs_disk(formats: Sequence[str]) -> bool:
    return any(f in DISK_WRITERS for f in formats)


def check_formats(formats: Sequence[str]) -> None:
    """Refuse, before building, a known format this version cannot write yet."""
    missing = [f for f in formats if f not in TREE_WRITERS and f not in DISK_WRITERS]
    if missing:
        known = sorted([*TREE_WRITERS, *DISK_WRITERS])
        raise InputError(
            f"Output format {', '.join(missing)} is not implemented in dibpy yet; it writes "
            f"{', '.join(known)}."
        )


def check_writable(destination: Path) -> None:
    folder = destination.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(
            f"Cannot write the output {destination}: {folder} is not a writable directory. "
            "Create it or choose another -o."
        )


def write_tree_outputs(tree: Path, destinations: dict[str, Path], runner: Runner) -> list[Path]:
    """Write the formats made from the tree."""
    written = []
    for fmt, destination in destinations.items():
        if fmt in TREE_WRITERS:
            with atomic(destination) as partial:
                TREE_WRITERS[fmt](tree, partial, runner)
            log.info("Wrote %s", destination)
            written.append(destination)
    return written


def write_disk_outputs(
    raw: Path, destinations: dict[str, Path], runner: Runner, options: OutputOptions
) -> list[Path]:
    """Write the formats made from the assembled raw disk."""
    written = []
    for fmt, destination in destinations.items():
        if fmt in DISK_WRITERS:
            with atomic(destination) as partial:
                DISK_WRITERS[fmt](raw, partial, runner, options)
            log.info("Wrote %s", destination)
            written.append(destination)
    return written


def write_checksums(path: Path) -> list[Path]:
    """``PATH.md5`` and ``PATH.sha256`` as md5sum/sha256sum print them (DIB's --checksum)."""
    digests = {"md5": hashlib.md5(usedforsecurity=False), "sha256": hashlib.sha256()}
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            for digest in digests.values():
                digest.update(chunk)
    written = []
    for name, digest in digests.items():
        target = path.with_name(f"{path.name}.{name}")
        target.write_text(f"{digest.hexdigest()}  {path.name}\n")
        written.append(target)
    return written


@contextmanager
def atomic(destination: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``destination``; rename it there only on success."""
    partial = destination.with_name(f".{destination.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        yield partial
        os.replace(partial, destination)
    finally:
        partial.unlink(missing_ok=True)


FileIdentity = tuple[int, int, int] | None


def identities(paths: Sequence[Path]) -> dict[Path, FileIdentity]:
    """(device, inode, mtime) of each path, None for a missing one (see remove_changed)."""
    found: dict[Path, FileIdentity] = {}
    for path in paths:
        try:
            st = path.stat()
        except OSError:
            found[path] = None
        else:
            found[path] = (st.st_dev, st.st_ino, st.st_mtime_ns)
    return found


def remove_changed(before: dict[Path, FileIdentity]) -> list[Path]:
    """Remove the files written since ``identities`` was taken: the outputs a build that then
    failed had already finished. A file that was there before and is untouched stays."""
    removed = []
    for path, identity in before.items():
        if identities([path])[path] not in (None, identity):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def with_sidecars(paths: Sequence[Path]) -> list[Path]:
    """Each path with its ``.md5`` and ``.sha256`` (written by --checksum)."""
    return [
        p
        for path in paths
        for p in (path, *(path.with_name(f"{path.name}.{s}") for s in ("md5", "sha256")))
    ]


def write_output_files(files: Mapping[Path, OutputFile]) -> list[Path]:
    """Copy each file to its destination, atomically, with its mode."""
    written = []
    for destination, file in files.items():
        if not file.source.is_file():
            raise BuildError(
                f"The file {file.source} an element asked to write as {destination} is gone "
                "or is not a regular file."
            )
        try:
            with atomic(destination) as partial:
                shutil.copyfile(file.source, partial)
                partial.chmod(file.mode)
        except OSError as exc:
            raise BuildError(
                f"Cannot write {destination}: {exc.strerror or exc}. Make it a writable "
                "path (remove what is there, or choose another -o)."
            ) from None
        written.append(destination)
    return written
