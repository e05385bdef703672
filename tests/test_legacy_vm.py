"""DIB 3.43's own shell elements, from the installed diskimage-builder, in a booted image.

`vm debian-minimal devuser growroot`: devuser and growroot are DIB's folders, run unchanged
as legacy elements beside dibpy's Python elements (dibpy has ports of both now, so DIB's
folders are put first on the element path, as a user keeping DIB's would). The image is
built once; its disk is grown by 2 GiB with `qemu-img resize` and booted once under TCG.
On the serial console the test logs in as the dev user with the password
DIB_DEV_USER_PASSWORD set, runs `sudo -n true` (DIB_DEV_USER_PWDLESS_SUDO), and reads the
size of the root file system, which growroot must have grown to fill the larger disk.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import build_dirs, clean_env, mount_lines, run_dibpy, virtual_size
from differential import dib_elements

from dibpy.frontends import qemu
from dibpy.frontends.qemu import Exchange

pytest.importorskip("diskimage_builder")
pytestmark = [pytest.mark.slow, pytest.mark.root]

USER, PASSWORD = "stack", "dibpy-secret"
PROMPT = rf"{USER}@[\w.-]+:~\$ "
GIB = 1024**3


@pytest.fixture(scope="module")
def dev_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("legacy-vm")
    env = clean_env(
        base,
        DIB_RELEASE="bookworm",
        DIB_DEV_USER_USERNAME=USER,
        DIB_DEV_USER_PASSWORD=PASSWORD,
        DIB_DEV_USER_PWDLESS_SUDO="yes",
        DIB_DEV_USER_SHELL="/bin/bash",
    )
    originals = base / "dib-originals"
    for name in ("devuser", "growroot"):
        shutil.copytree(dib_elements() / name, originals / name, symlinks=True)
    result = run_dibpy(
        [
            *("build", "-o", str(base / "dev"), "--element-path", str(originals)),
            *("vm", "debian-minimal", "devuser", "growroot"),
        ],
        env,
        base,
        timeout=1500,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert mount_lines(base) == [] and build_dirs(base / "tmp") == []
    return base / "dev.qcow2"


def test_dibs_devuser_and_growroot_run_as_legacy_elements(dev_image: Path) -> None:
    manifest = json.loads(dev_image.with_name("dev.manifest.json").read_text())
    text = json.dumps(manifest)
    assert "50-devuser" in text and "80-growroot" in text


def test_the_dev_user_logs_in_uses_sudo_and_the_root_fs_grew(dev_image: Path) -> None:
    before = virtual_size(dev_image)
    subprocess.run(["qemu-img", "resize", str(dev_image), "+2G"], check=True)
    booted = qemu.boot(
        dev_image,
        efi=False,
        expect=r"login: ",
        timeout=900,
        then=[
            Exchange(USER, r"Password: "),
            Exchange(PASSWORD, PROMPT),
            Exchange("sudo -n true; echo SUDO-STATUS=$?", r"SUDO-STATUS=\d+"),
            Exchange(
                "df -B1 --output=size / | tail -n 1; echo ROOT-SIZE-$((40+2))", r"ROOT-SIZE-42"
            ),
            Exchange("systemctl is-active growroot; echo GROWROOT-$((5+5))", r"GROWROOT-10"),
        ],
    )
    console = booted.console
    assert "SUDO-STATUS=0" in console, console[-3000:]
    sizes = [int(line) for line in console.splitlines() if line.strip().isdigit()]
    assert sizes, console[-3000:]
    # Before the resize the root file system was smaller than the whole disk; growroot
    # must have grown it by (nearly) the 2 GiB added.
    assert sizes[-1] > before + GIB, (sizes, before, console[-3000:])
