"""The examples run as a user runs them: the element package is pip-installed (into a
target directory on PYTHONPATH, as a venv would hold it) and found through its entry point,
its own tests pass, and examples/api_variants.py builds its two variants."""

from __future__ import annotations

import hashlib
import json
import re
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
    assert "Element 'hello-motd' was not found" in missing.stderr, missing.stderr


# The package's own tests (examples/element-package/tests), each of which must run and pass.
PACKAGE_TESTS = {
    "test_registered_through_the_entry_point",
    "test_planned_after_the_os_element_writes_its_motd",
    "test_writes_the_motd_from_its_template",
    "test_the_default_text",
    "test_never_writes_through_a_symlink_onto_the_host",
    "test_a_real_build",
}


def test_the_package_s_own_tests_pass(site: Path, tmp_path: Path) -> None:
    pytest_argv = [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider"]
    done = subprocess.run(
        [*pytest_argv, str(PACKAGE / "tests")],
        env=clean_env(tmp_path, PYTHONPATH=str(site)),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # -v: one "tests/test_hello_motd.py::NAME PASSED" (SKIPPED, FAILED, ...) line a test
    outcomes = dict(
        found.groups()
        for line in done.stdout.splitlines()
        if (found := re.match(r"\S+::(\w+) ([A-Z]+)", line))
    )
    real_build_runs = IS_ROOT and BUSYBOX.is_file()
    assert outcomes == {
        name: "SKIPPED" if name == "test_a_real_build" and not real_build_runs else "PASSED"
        for name in PACKAGE_TESTS
    }, done.stdout


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
    lines = done.stdout.splitlines()
    planned = re.fullmatch(r"Plan: tiny-busybox, (\d+) hooks", lines[0])
    assert planned, lines[0]
    rows = {
        cells[0]: cells
        for line in lines
        if len(cells := [c.strip() for c in line.split("│")[1:-1]]) == 7
    }
    assert set(rows) == {"standard", "custom"}, done.stdout
    motd = {}
    for name in ("standard", "custom"):
        tar_path = out / f"tiny-{name}.tar"
        manifest = json.loads((out / f"tiny-{name}.manifest.json").read_text())
        hooks = manifest["hooks"]
        _, output, size, sha256, hook_count, commands, hook_time = rows[name]
        assert output == tar_path.name
        assert size == f"{tar_path.stat().st_size / 2**20:.1f} MiB"
        assert sha256 == hashlib.sha256(tar_path.read_bytes()).hexdigest()[:12]
        assert sha256 == manifest["outputs"][0]["sha256"][:12]
        # What the on_event callback counted is what the build did.
        assert int(hook_count) == len(hooks) == int(planned[1])
        assert abs(float(hook_time.removesuffix("s")) - sum(h["seconds"] for h in hooks)) < 0.02
        assert int(commands) > 0
        printed = [line.split()[1] for line in lines if line.startswith(f"{name}: ")]
        assert printed == list(dict.fromkeys(h["phase"] for h in hooks))  # each phase, in order
        with tarfile.open(tar_path) as tar:
            for member in ("./etc/motd", "./etc/passwd"):
                stream = tar.extractfile(member)
                assert stream is not None
                motd[name, member] = stream.read().decode()
    assert motd["standard", "./etc/motd"] == "Welcome to tiny-busybox\n"
    assert motd["custom", "./etc/motd"] == "Welcome to the custom variant\n"
    assert "user:x:2000:2000:" in motd["custom", "./etc/passwd"]
    assert "user:x:1000:1000:" in motd["standard", "./etc/passwd"]
