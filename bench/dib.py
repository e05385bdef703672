"""diskimage-builder, installed from PyPI into the benchmark's own venv (never dibpy's)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

VENV = Path(__file__).resolve().parent / ".venv-dib"


def ensure_venv(version: str) -> Path:
    """Create bench/.venv-dib with diskimage-builder==VERSION unless it is there; its bin/."""
    bin_dir = VENV / "bin"
    if _installed_version(bin_dir) != version:
        if not bin_dir.is_dir():
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run(
            [str(bin_dir / "pip"), "install", "-q", f"diskimage-builder=={version}"], check=True
        )
    return bin_dir


def _installed_version(bin_dir: Path) -> str | None:
    python = bin_dir / "python"
    if not python.exists():
        return None
    query = "import importlib.metadata as m; print(m.version('diskimage-builder'))"
    found = subprocess.run(
        [str(python), "-c", query],
        capture_output=True,
        text=True,
        check=False,
    )
    return found.stdout.strip() if found.returncode == 0 else None
