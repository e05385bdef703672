"""The examples run as a user runs them: the element package is pip-installed (into a
target directory on PYTHONPATH, as a venv would hold it) and found through its entry point,
its own tests pass, and examples/api_variants.py builds its two variants."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from conftest import IS_ROOT, REPO, clean_env, run_dibpy

PACKAGE = REPO / "examples" / "element-package"
BUSYBOX = Path("/bin/busybox")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """examples/element-package installed with pip into a directory of its own."""
    base = tmp_path_factory.mktemp("element-package")
    source = base / "src"
    shutil.copytree(PACKAGE, source, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    target = base / "site"
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation"]
    subprocess.run(
        [*pip, "--target", str(target), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return target


def test_the_installed_package_registers_its_element(site: Path, tmp_path: Path) -> None:
    env = clean_env(tmp_path, PYTHONPATH=str(site))
    listed = run_dibpy(["elements"], env, tmp_path)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("hello-motd "))
    assert "Writes a greeting to /etc/motd" in lines[at]
    assert lines[at + 1].strip() == "from entry-point dibpy_hello.hello_motd"
    shown = run_dibpy(["show", "hello-motd"], env, tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "HELLO_TEXT (str, default 'Hello from dibpy-hello!')" in shown.stdout
    # Not installed, not found: the entry point is what makes it an element.
    missing = run_dibpy(["show", "hello-motd"], clean_env(tmp_path), tmp_path)
    assert missing.returncode == 2


def test_the_package_s_own_tests_pass(site: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(PACKAGE / "tests")],
        env=clean_env(tmp_path, PYTHONPATH=str(site)),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    real_build_runs = IS_ROOT and BUSYBOX.is_file()
    expected = "6 passed" if real_build_runs else "5 passed, 1 skipped"
    assert expected in done.stdout, done.stdout


@pytest.mark.root
@pytest.mark.skipif(not IS_ROOT or not BUSYBOX.is_file(), reason="needs root and busybox")
def test_api_variants_builds_two_variants(tmp_path: Path) -> None:
    out = tmp_path / "variants"
    done = subprocess.run(
        [sys.executable, str(REPO / "examples" / "api_variants.py"), "--output-dir", str(out)],
        env=clean_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    motd = {}
    for name in ("standard", "custom"):
        tar_path = out / f"tiny-{name}.tar"
        assert (out / f"tiny-{name}.manifest.json").is_file()
        digest = hashlib.sha256(tar_path.read_bytes()).hexdigest()
        row = next(line for line in done.stdout.splitlines() if f" {name} " in line)
        assert f"tiny-{name}.tar" in row and digest[:12] in row, row
        assert "│ 3 " in row  # three hooks ran
        with tarfile.open(tar_path) as tar:
            for member in ("./etc/motd", "./etc/passwd"):
                stream = tar.extractfile(member)
                assert stream is not None
                motd[name, member] = stream.read().decode()
    assert motd["standard", "./etc/motd"] == "Welcome to tiny-busybox\n"
    assert motd["custom", "./etc/motd"] == "Welcome to the custom variant\n"
    assert "user:x:2000:2000:" in motd["custom", "./etc/passwd"]
    assert "user:x:1000:1000:" in motd["standard", "./etc/passwd"]
    assert "standard: install done in" in done.stdout
