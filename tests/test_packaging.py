"""The wheel carries the built-in elements: installed outside the checkout, dibpy finds them."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_installed_wheel_plans_from_outside_the_checkout(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)],
        check=True,
    )
    (wheel,) = wheels.glob("dibpy-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "dibpy/_builtin_elements/ubuntu-minimal.py" in names
    assert "dibpy/py.typed" in names
    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(site),
            str(wheel),
        ],
        check=True,
    )
    env = {k: v for k, v in os.environ.items() if k not in ("ELEMENTS_PATH", "PYTHONPATH")}
    env["PYTHONPATH"] = str(site)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "dibpy", "plan", "vm", "ubuntu-minimal"],
        cwd=outside,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert (
        str(site / "dibpy/_builtin_elements")
        in subprocess.run(
            [sys.executable, "-m", "dibpy", "elements"],
            cwd=outside,
            env=env,
            capture_output=True,
            text=True,
        ).stdout
    )
    assert "ubuntu-minimal" in result.stdout.splitlines()[0]
