"""The manifest of a real Debian build: `dibpy build -t tar debian-minimal` from the Debian
mirror, and NAME.manifest.json lists the packages dpkg installed (read from the dpkg
element's manifest in the image), the built-in elements and the settings used.

Slow (debootstrap and apt from the mirror) and needs root.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
from pathlib import Path

import pytest
from conftest import clean_env, mount_lines, needs_root, run_dibpy

pytestmark = [
    pytest.mark.slow,
    pytest.mark.root,
    needs_root,
    pytest.mark.skipif(shutil.which("debootstrap") is None, reason="debootstrap is not installed"),
]


def test_debian_minimal_manifest_lists_the_installed_packages(tmp_path: Path) -> None:
    env = clean_env(tmp_path, DIB_RELEASE="bookworm")
    done = run_dibpy(
        ["build", "-t", "tar", "-o", str(tmp_path / "deb"), "debian-minimal"],
        env,
        tmp_path,
        timeout=1800,
    )
    assert done.returncode == 0, done.stderr[-5000:]
    tar_path = tmp_path / "deb.tar"
    manifest_path = tmp_path / "deb.manifest.json"
    assert done.stdout.splitlines() == [str(tar_path), str(manifest_path)]
    manifest = json.loads(manifest_path.read_text())

    packages = {p["package"]: p for p in manifest["packages"]}
    for name in ("dpkg", "apt", "systemd-sysv", "base-files"):
        assert packages[name]["status"] == "installed", packages.get(name)
    assert packages["base-files"]["version"].startswith("12.")
    # The same list the dpkg element wrote into the image.
    with tarfile.open(tar_path) as tar:
        stream = tar.extractfile("./etc/dib-manifests/dib-manifest-dpkg-deb")
        assert stream is not None
        in_image = json.loads(stream.read())["packages"]
    assert [p["package"] for p in in_image] == [p["package"] for p in manifest["packages"]]

    origins = {e["name"]: e["origin"] for e in manifest["elements"]}
    assert {"debian-minimal", "debootstrap", "dpkg", "base"} <= set(origins)
    assert set(origins.values()) == {"built-in"}
    ran = {(h["phase"], h["element"], h["hook"]) for h in manifest["hooks"]}
    assert ("root", "debootstrap", "debootstrap") in ran
    assert ("finalise", "dpkg", "write_dpkg_manifest") in ran
    assert manifest["settings"]["DIB_RELEASE"] == "bookworm"
    assert manifest["command"][:2] == ["dibpy", "build"]
    assert manifest["outputs"] == [
        {
            "path": str(tar_path),
            "format": "tar",
            "size": tar_path.stat().st_size,
            "sha256": hashlib.sha256(tar_path.read_bytes()).hexdigest(),
        }
    ]
    assert mount_lines(tmp_path) == []
