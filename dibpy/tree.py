"""What the driver itself does to the tree between phases, as DIB's driver does."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from dibpy.errors import BuildError

log = logging.getLogger("dibpy.tree")

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
    """Give the chroot the host's DNS: keep the tree's own resolv.conf as ``.ORIG``."""
    etc = root / "etc"
    if not etc.is_dir():
        return
    conf, original = etc / "resolv.conf", etc / "resolv.conf.ORIG"
    if conf.is_symlink() or conf.exists():
        conf.rename(original)
    try:
        text = HOST_RESOLV_CONF.read_text()
    except OSError:
        text = FALLBACK_RESOLVER
    conf.write_text(text)


def restore_resolver(root: Path) -> None:
    """Undo ``use_host_resolver``, unless a hook replaced resolv.conf with a symlink."""
    etc = root / "etc"
    conf, original = etc / "resolv.conf", etc / "resolv.conf.ORIG"
    if conf.is_symlink():
        original.unlink(missing_ok=True)
        return
    conf.unlink(missing_ok=True)
    if original.is_symlink() or original.exists():
        original.rename(conf)


def tidy(root: Path) -> None:
    """Empty ``tmp``, truncate the logs under ``var/log`` and drop ``root/*.log``."""
    tmp = root / "tmp"
    if tmp.is_dir() and not tmp.is_symlink():
        device = tmp.stat().st_dev
        for entry in tmp.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                if entry.stat().st_dev != device:
                    raise BuildError(f"{entry} is a mount point; refusing to empty it.")
                shutil.rmtree(entry)
            else:
                entry.unlink()
    logs = root / "var/log"
    if logs.is_dir() and not logs.is_symlink():
        for path in logs.rglob("*"):
            if path.is_file() and not path.is_symlink():
                path.open("w").close()
    home = root / "root"
    if home.is_dir() and not home.is_symlink():
        for path in home.glob("*.log"):
            path.unlink()
