"""Paths inside the target tree, resolved as a chroot would resolve them.

A root tree is full of absolute symlinks (``/etc/alternatives/...``); followed on the host
they lead out of the tree and into the build machine's own files. Hooks that touch the tree
from outside use these helpers so that a symlink can never make them write on the host.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from dibpy.errors import BuildError

MAX_SYMLINKS = 40


def in_root(root: Path, path: str | os.PathLike[str], *, follow_final: bool = True) -> Path:
    """The host path of ``path`` (absolute or relative, as seen inside the tree).

    Every symlink on the way is resolved inside ``root``: an absolute target starts again
    at ``root`` and ``..`` never climbs above it. With ``follow_final=False`` a symlink in
    the last component is left as it is (to rename or remove the link itself).
    """
    parts = list(PurePosixPath("/", os.fspath(path)).parts[1:])
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = root.joinpath(*resolved, part)
        if candidate.is_symlink() and (parts or follow_final):
            hops += 1
            if hops > MAX_SYMLINKS:
                raise BuildError(f"Too many levels of symlinks resolving {path} in {root}.")
            target = PurePosixPath(os.readlink(candidate))
            if target.is_absolute():
                resolved = []
            parts = [p for p in target.parts if p != "/"] + parts
            continue
        resolved.append(part)
    return root.joinpath(*resolved)


def write_file(root: Path, path: str, text: str, mode: int = 0o644) -> Path:
    """Write ``text`` to ``path`` in the tree (parents created), with ``mode``."""
    target = in_root(root, path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_symlink():
        target.unlink()
    target.write_text(text)
    target.chmod(mode)
    return target


def remove_file(root: Path, path: str) -> bool:
    """Remove ``path`` from the tree if present (a symlink itself, not its target)."""
    target = in_root(root, path, follow_final=False)
    if target.is_symlink() or target.exists():
        target.unlink()
        return True
    return False
