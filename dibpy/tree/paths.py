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
    # O_NOFOLLOW: a symlink put there since the path was resolved is refused, not followed.
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
    with os.fdopen(fd, "w") as out:
        out.write(text)
        os.fchmod(out.fileno(), mode)
    return target


def remove_file(root: Path, path: str) -> bool:
    """Remove ``path`` from the tree if present (a symlink itself, not its target)."""
    target = in_root(root, path, follow_final=False)
    if target.is_symlink() or target.exists():
        target.unlink()
        return True
    return False


def make_dir(root: Path, path: str) -> Path:
    """``mkdir -p`` of ``path`` in the tree: the host path of a real directory there (to
    mount on, say), resolved inside the tree. Raises BuildError when something on the way
    is not a directory, or when the host would resolve the result elsewhere."""
    target = in_root(root, path)
    try:
        target.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise BuildError(
            f"Cannot use {path} in the image as a directory: it, or a directory on the way "
            "to it, is a file."
        ) from None
    check_inside(root, target)
    return target


def check_inside(root: Path, target: Path) -> None:
    """Refuse ``target`` (a host path under ``root``) unless the host resolves it to itself:
    no symlink on the way that could lead the host out of the tree."""
    real_root = Path(os.path.realpath(root))
    if Path(os.path.realpath(target)) != real_root / target.relative_to(root):
        raise BuildError(
            f"{target} passes through a symlink on the host; refusing to use it in the tree {root}."
        )
