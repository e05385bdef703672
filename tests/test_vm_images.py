"""The proof: `dibpy build vm debian-minimal` images, made from the real Debian mirror with no
loop device and no mount of the image, boot to a login prompt under qemu (TCG)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import build_dirs, clean_env, mount_lines, run_dibpy

from dibpy import qemu

pytestmark = [pytest.mark.slow, pytest.mark.root]

BUILD_TIMEOUT = 1200
BOOT_TIMEOUT = 600


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One image cache for the module: the first build fills it, the others reuse it."""
    return tmp_path_factory.mktemp("image-cache")


def loop_devices() -> str:
    return subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout


@pytest.mark.parametrize(
    ("extra", "table", "efi"),
    [
        ([], "dos", False),
        (["block-device-gpt"], "gpt", False),
        (["block-device-efi"], "gpt", True),
    ],
    ids=["mbr", "gpt", "efi"],
)
def test_vm_debian_minimal_boots(
    tmp_path: Path, shared_cache: Path, extra: list[str], table: str, efi: bool
) -> None:
    env = clean_env(tmp_path, DIB_RELEASE="bookworm", DIB_IMAGE_CACHE=str(shared_cache))
    loops_before = loop_devices()
    out = tmp_path / "out"
    out.mkdir()
    result = run_dibpy(
        ["build", "-o", str(out / "debian"), "--checksum", "vm", "debian-minimal", *extra],
        env,
        tmp_path,
        timeout=BUILD_TIMEOUT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    image = out / "debian.qcow2"
    assert image.is_file()
    sha = (out / "debian.qcow2.sha256").read_text().split()
    assert sha[1] == "debian.qcow2" and len(sha[0]) == 64

    # The image phases used no loop device and left nothing mounted.
    assert loop_devices() == loops_before
    assert mount_lines(tmp_path) == []
    assert build_dirs(tmp_path / "tmp") == []
    assert list(out.glob(".*partial")) == []

    raw = tmp_path / "disk.raw"  # sparse: converting costs seconds, not gigabytes
    subprocess.run(["qemu-img", "convert", "-O", "raw", str(image), str(raw)], check=True)
    table_json = subprocess.run(
        ["sfdisk", "--json", str(raw)], capture_output=True, text=True, check=True
    ).stdout
    partitions = json.loads(table_json)["partitiontable"]
    assert partitions["label"] == table
    raw.unlink()

    booted = qemu.boot(image, efi=efi, expect=r"login:", timeout=BOOT_TIMEOUT)
    assert "login:" in booted.match
    assert "Debian GNU/Linux 12" in booted.console
