"""What the driver itself does to the tree between phases, as DIB's driver does."""

from __future__ import annotations

import logging
import os
import shutil
import stat
from pathlib import Path

from dibpy.errors import BuildError
from dibpy.tree.paths import in_root, remove_file, write_file

log = logging.getLogger("dibpy.tree.tidy")

HOST_RESOLV_CONF = Path("/etc/resolv.conf")
FALLBACK_RESOLVER = "nameserver 8.8.8.8\n"


def check_root_deployed(root: Path) -> None:
    """After the root phase the tree must hold more than ``lost+found`` and ``tmp``."""
    if not [p for p in root.iterdir() if p.name not in ("lost+found", "tmp")]:
        raise BuildError(
            "Failed to deploy the root element: the tree is empty after the root phase. "
            "An operating-system element must create the root file system in its root hook."
        )


def use_host_resolver(root: Path) -> None:
    """Give the chroot the host's DNS: keep the tree's own resolv.conf as ``.ORIG``.

    ``etc`` is resolved inside the tree, as the chroot sees it: a tree whose ``etc`` or
    ``etc/resolv.conf`` is a symlink to a host path never has the host's file renamed or
    written (the link itself is moved aside, as DIB's ``mv`` does)."""
    try:
        etc = in_root(root, "etc")
        if not etc.is_dir():
            return
        conf, original = etc / "resolv.conf", etc / "resolv.conf.ORIG"
        if conf.is_symlink() or conf.exists():
            conf.rename(original)
        try:
            text = HOST_RESOLV_CONF.read_text()
        except OSError:
            text = FALLBACK_RESOLVER
        write_file(root, "etc/resolv.conf", text)
    except OSError as exc:
        raise BuildError(f"Could not give the tree the host's resolv.conf: {exc}") from exc


def restore_resolver(root: Path) -> None:
    """Undo ``use_host_resolver``, unless a hook replaced resolv.conf with a symlink."""
    try:
        etc = in_root(root, "etc")
        if not etc.is_dir():
            return
        conf, original = etc / "resolv.conf", etc / "resolv.conf.ORIG"
        if conf.is_symlink():
            remove_file(root, "etc/resolv.conf.ORIG")
            return
        remove_file(root, "etc/resolv.conf")
        if original.is_symlink() or original.exists():
            original.rename(conf)
    except OSError as exc:
        raise BuildError(f"Could not put the tree's own resolv.conf back: {exc}") from exc


def tidy(root: Path) -> None:
    """Empty ``tmp``, truncate the logs under ``var/log`` and drop ``root/*.log``.

    Each directory is the one a chroot sees (resolved inside the tree); what is in it is
    never followed: a symlink is removed or left, never written through."""
    try:
        _empty_tmp(in_root(root, "tmp"))
        _truncate_logs(in_root(root, "var/log"))
        home = in_root(root, "root")
        if home.is_dir():
            for path in home.glob("*.log"):
                if path.is_symlink() or not path.is_dir():
                    path.unlink()
    except OSError as exc:
        raise BuildError(f"Could not tidy the tree {root}: {exc}") from exc


def _empty_tmp(tmp: Path) -> None:
    if not tmp.is_dir():
        return
    device = tmp.stat().st_dev
    for entry in tmp.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            if entry.stat().st_dev != device:
                raise BuildError(f"{entry} is a mount point; refusing to empty it.")
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _truncate_logs(logs: Path) -> None:
    """Truncate every regular file below ``logs``, following no symlink and no mount."""
    if not logs.is_dir():
        return
    device = logs.stat().st_dev
    for directory, subdirs, files in os.walk(logs):  # os.walk follows no directory link
        subdirs[:] = [d for d in subdirs if os.lstat(os.path.join(directory, d)).st_dev == device]
        for name in files:
            path = os.path.join(directory, name)
            if not stat.S_ISREG(os.lstat(path).st_mode):
                continue
            fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY)
            try:
                if stat.S_ISREG(os.fstat(fd).st_mode):
                    os.ftruncate(fd, 0)
            finally:
                os.close(fd)
