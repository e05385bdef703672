"""The proof: `dibpy build vm debian-minimal` and `vm ubuntu` images, made with no loop device
and no mount of the image, boot under qemu (TCG), and `update-grub` run inside the booted
machine leaves it bootable.

The images carry the test element `serial-autologin` (tests/elements) so that a shell waits
on the serial console; each test types `update-grub` into it, reboots the machine in the
same qemu and checks that the kernel command line still names the serial console.

The MBR image also carries the service ports whose effect shows only at boot (one image,
not one more build): its disk is grown by 2 GiB before the boot and growroot grows the root
file system to fill it; runtime-ssh-host-keys makes the host keys the image was built
without; dhcp-all-interfaces brings up qemu's user network, where openssh-server listens
on a port forwarded from the host; and the dev user logs in over ssh with a key the test
made (DIB_DEV_USER_AUTHORIZED_KEYS) and runs `sudo -n true`.

`vm ubuntu` cannot reach Ubuntu's servers here, so the test makes what they would serve: a
Debian bookworm root built by dibpy itself (`-t squashfs debian-minimal pose-as-ubuntu`),
published with its SHA256SUMS by a local HTTP server as
`bookworm-server-cloudimg-amd64.squashfs`, its apt sources naming archive.ubuntu.com (which
`DIB_DISTRIBUTION_MIRROR` must rewrite to the Debian mirror), and a local flat apt repository
with a stand-in `linux-image-generic`.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import re
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from conftest import build_dirs, clean_env, mount_lines, run_dibpy, virtual_size

from dibpy.config.model import host_arch
from dibpy.frontends import qemu
from dibpy.frontends.qemu import Exchange

pytestmark = [pytest.mark.slow, pytest.mark.root]

BUILD_TIMEOUT = 1200
BOOT_TIMEOUT = 900  # two boots and an update-grub under TCG
TEST_ELEMENTS = Path(__file__).parent / "elements"
PROMPT = r"root@[\w.-]+:~# "
DEBIAN_MIRROR = "http://deb.debian.org/debian"


@pytest.fixture(scope="module")
def shared_cache(debian_image_cache: Path) -> Path:
    """The session's Debian image cache: the first build fills it (or a differential pair
    did), the others reuse it."""
    return debian_image_cache


def loop_devices() -> str:
    return subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout


def build_image(
    tmp_path: Path, env: dict[str, str], name: str, elements: list[str], *options: str
) -> Path:
    """``dibpy build`` as a user runs it; checks that it left nothing behind."""
    loops_before = loop_devices()
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    result = run_dibpy(
        ["build", "-o", str(out / name), "--element-path", str(TEST_ELEMENTS), *options, *elements],
        env,
        tmp_path,
        timeout=BUILD_TIMEOUT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # The image phases used no loop device and left nothing mounted.
    assert loop_devices() == loops_before
    assert mount_lines(tmp_path) == []
    assert build_dirs(tmp_path / "tmp") == []
    assert list(out.glob(".*partial")) == []
    return out


def partition_table(image: Path, scratch: Path, listed: str = "") -> tuple[str, str]:
    """The image's partition table label, and ``debugfs``'s listing of the folder ``listed``
    in its last partition's file system (the root of the default layouts)."""
    raw = scratch / "disk.raw"  # sparse: converting costs seconds, not gigabytes
    subprocess.run(["qemu-img", "convert", "-O", "raw", str(image), str(raw)], check=True)
    try:
        text = subprocess.run(
            ["sfdisk", "--json", str(raw)], capture_output=True, text=True, check=True
        ).stdout
        table = json.loads(text)["partitiontable"]
        listing = ""
        if listed:
            offset = table["partitions"][-1]["start"] * table.get("sectorsize", 512)
            listing = subprocess.run(
                ["debugfs", "-R", f"ls -p {listed}", f"{raw}?offset={offset}"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
    finally:
        raw.unlink()
    label: str = table["label"]
    return label, listing


def boot_update_grub_and_reboot(
    image: Path,
    *,
    efi: bool,
    checks: Sequence[Exchange | Callable[[], object]],
    extra: Sequence[str] = (),
    timeout: float = BOOT_TIMEOUT,
) -> str:
    """Boot to the autologin shell, run ``checks``, ``update-grub``, reboot, and return the
    console. Asserts that update-grub succeeded and the second boot came up the same way."""
    booted = qemu.boot(
        image,
        efi=efi,
        expect=PROMPT,
        timeout=timeout,
        reboot=True,
        extra=extra,
        then=[
            *checks,
            Exchange("update-grub; echo UPDATE-GRUB-STATUS=$?", r"UPDATE-GRUB-STATUS=\d+"),
            Exchange("reboot", r"Linux version"),
            Exchange("", PROMPT),
            Exchange("cat /proc/cmdline; echo BOOTS=$((1+1))", r"BOOTS=\d"),
        ],
    )
    console = booted.console
    assert "UPDATE-GRUB-STATUS=0" in console, console[-3000:]
    assert "Found linux image" in console  # update-grub saw the image's kernel
    second_boot = console[console.rindex("Linux version") :]
    assert "console=ttyS0,115200" in second_boot  # /etc/default/grub kept the serial console
    assert "BOOTS=2" in second_boot
    return console


# The service ports booted in the MBR image, and what the dev user is made with.
SERVICES = ["openssh-server", "devuser", "growroot", "dhcp-all-interfaces", "dynamic-login"]
DEV_USER = "stack"
GROWN = 2 * 1024**3


@pytest.mark.parametrize(
    ("extra", "table", "efi"),
    [
        (SERVICES, "dos", False),
        (["block-device-gpt"], "gpt", False),
        (["block-device-efi"], "gpt", True),
    ],
    ids=["mbr", "gpt", "efi"],
)
def test_vm_debian_minimal_boots(
    tmp_path: Path, shared_cache: Path, extra: list[str], table: str, efi: bool
) -> None:
    services = extra == SERVICES
    env = clean_env(tmp_path, DIB_RELEASE="bookworm", DIB_IMAGE_CACHE=str(shared_cache))
    if services:
        env.update(dev_user_settings(tmp_path))
    out = build_image(
        tmp_path, env, "debian", ["vm", "debian-minimal", "serial-autologin", *extra], "--checksum"
    )
    image = out / "debian.qcow2"
    sha = (out / "debian.qcow2.sha256").read_text().split()
    assert sha == [hashlib.sha256(image.read_bytes()).hexdigest(), "debian.qcow2"]
    label, ssh_folder = partition_table(image, tmp_path, "/etc/ssh" if services else "")
    assert label == table
    if services:
        assert "sshd_config" in ssh_folder  # the listing is of the image's /etc/ssh ...
        assert "ssh_host_" not in ssh_folder  # ... which holds no host key

    ssh_said: list[str] = []
    console = boot_update_grub_and_reboot(
        image,
        efi=efi,
        **(boot_the_services(image, tmp_path, ssh_said) if services else {"checks": []}),
    )
    assert "Debian GNU/Linux 12" in console
    if efi:
        assert "EFI v" in console  # started by the UEFI firmware, not the BIOS
    if services:
        check_the_services(console, virtual_size(image), ssh_said)


def dev_user_settings(tmp_path: Path) -> dict[str, str]:
    """devuser's variables, with the public half of an ssh key made for the test."""
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return {
        "DIB_DEV_USER_USERNAME": DEV_USER,
        "DIB_DEV_USER_SHELL": "/bin/bash",
        "DIB_DEV_USER_PWDLESS_SUDO": "yes",
        "DIB_DEV_USER_AUTHORIZED_KEYS": f"{key}.pub",
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def ssh_login(port: int, key: Path, said: list[str], wait: float = 180) -> None:
    """Log the dev user in over ssh with ``key`` and run ``sudo -n true``; retried while
    the machine's network and sshd come up. What the command printed goes to ``said``."""
    argv = ["ssh", "-i", str(key), "-p", str(port), "-o", "StrictHostKeyChecking=no"]
    argv += ["-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes"]
    argv += ["-o", "ConnectTimeout=10", f"{DEV_USER}@127.0.0.1"]
    argv += ["sudo -n true && echo SUDO-AS-$(id -un)-$((4+4))"]
    deadline = time.monotonic() + wait
    while True:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        said.append(f"ssh status {result.returncode}: {result.stdout}{result.stderr}")
        if result.returncode == 0:
            return
        if time.monotonic() > deadline:  # ends the boot: qemu.boot raises it
            raise AssertionError(f"the dev user could not log in over ssh: {said[-1]}")
        time.sleep(3)


def boot_the_services(image: Path, tmp_path: Path, said: list[str]) -> dict[str, Any]:
    """The grown disk, and the checks of the booted services (``said`` gets what ssh
    said): keyword arguments for ``boot_update_grub_and_reboot``."""
    subprocess.run(["qemu-img", "resize", str(image), f"+{GROWN}"], check=True)
    port = free_port()
    nic = f"user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:{port}-:22"
    return {
        "timeout": BOOT_TIMEOUT + 600,  # growroot waits for udev to settle; ssh logs in
        "extra": ["-nic", nic],
        "checks": [
            Exchange("systemctl is-system-running --wait; echo BOOTED-$((2*4))", r"BOOTED-8"),
            Exchange(
                "systemctl is-active ssh-keygen growroot ssh | tr '\\n' ' '; "
                "ls /etc/ssh/ssh_host_*_key; echo ROOTFS=$(df -B1 --output=size / | tail -n1)",
                r"ROOTFS=\s*\d+",
            ),
            lambda: ssh_login(port, tmp_path / "id_ed25519", said),
        ],
    }


def check_the_services(console: str, disk_size: int, ssh_said: list[str]) -> None:
    """After the boot: the host keys were made, the services ran, the root file system
    fills the grown disk, and the dev user logged in over ssh and used sudo."""
    assert "active active active" in console
    for kind in ("dsa", "ecdsa", "ed25519", "rsa"):
        assert f"/etc/ssh/ssh_host_{kind}_key" in console
    found = re.search(r"ROOTFS=\s*(\d+)", console)
    assert found is not None
    root_fs = int(found[1])
    assert root_fs > disk_size - GROWN  # larger than the whole disk was before
    assert root_fs > 0.9 * disk_size, (root_fs, disk_size)
    assert ssh_said and f"SUDO-AS-{DEV_USER}-8" in ssh_said[-1], ssh_said


# ------------------------------------------------------------------------------ vm ubuntu


def flat_apt_repository(directory: Path) -> None:
    """A trusted flat repository holding a stand-in ``linux-image-generic``."""
    package = directory / "pkg"
    (package / "DEBIAN").mkdir(parents=True)
    (package / "DEBIAN/control").write_text(
        "Package: linux-image-generic\n"
        "Version: 1.0\n"
        "Architecture: all\n"
        "Maintainer: dibpy tests <tests@dibpy.invalid>\n"
        "Depends: linux-image-amd64\n"
        "Description: stand-in for Ubuntu's kernel meta package\n"
        " Depends on Debian's kernel, so an Ubuntu package list installs on Debian.\n"
    )
    deb = directory / "linux-image-generic_1.0_all.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "--build", str(package), str(deb)], check=True
    )
    data = deb.read_bytes()
    control = (package / "DEBIAN/control").read_text()
    fields = (
        f"Filename: ./{deb.name}\nSize: {len(data)}\nSHA256: {hashlib.sha256(data).hexdigest()}\n"
    )
    head, _, description = control.partition("Description:")
    packages = f"{head}{fields}Description:{description}\n"
    (directory / "Packages").write_text(packages)
    digest = hashlib.sha256(packages.encode()).hexdigest()
    (directory / "Release").write_text(
        f"Origin: dibpy-tests\nLabel: dibpy-tests\nSHA256:\n {digest} {len(packages)} Packages\n"
    )


@pytest.fixture
def local_server(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A directory served over HTTP on 127.0.0.1, and its URL."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def stand_in_kernel(local_server: tuple[Path, str]) -> tuple[Path, str, str]:
    """The local server with the stand-in kernel repository: (its root, its URL, the
    repository's URL)."""
    www, url = local_server
    flat_apt_repository(www / "repo")
    return www, url, f"{url}/repo/"


def test_vm_ubuntu_from_a_served_cloud_image_boots(
    tmp_path: Path, shared_cache: Path, stand_in_kernel: tuple[Path, str, str]
) -> None:
    www, url, repo = stand_in_kernel
    image_name = f"bookworm-server-cloudimg-{host_arch()}"
    env = clean_env(tmp_path, DIB_RELEASE="bookworm", DIB_IMAGE_CACHE=str(shared_cache))
    poser = ["debian-minimal", "pose-as-ubuntu"]
    out = build_image(tmp_path, env, image_name, poser, "-t", "squashfs")
    squashfs = out / f"{image_name}.squashfs"
    squashfs.rename(www / squashfs.name)
    digest = hashlib.sha256((www / squashfs.name).read_bytes()).hexdigest()
    (www / "SHA256SUMS").write_text(f"{digest} *{squashfs.name}\n")

    env = clean_env(
        tmp_path,
        DIB_RELEASE="bookworm",
        DIB_IMAGE_CACHE=str(tmp_path / "ubuntu-cache"),
        DIB_CLOUD_IMAGES=url,
        DIB_DISTRIBUTION_MIRROR=DEBIAN_MIRROR,
        DIB_TEST_KERNEL_REPO=repo,
    )
    elements = ["vm", "ubuntu", "stand-in-kernel", "serial-autologin"]
    out = build_image(tmp_path, env, "ubuntu", elements)
    assert (tmp_path / "ubuntu-cache" / squashfs.name).is_file()  # fetched and cached

    console = boot_update_grub_and_reboot(
        out / "ubuntu.qcow2",
        efi=False,
        checks=[
            Exchange(
                "grep -h ^URIs /etc/apt/sources.list.d/ubuntu.sources; echo SOURCES-$((2+2))",
                r"SOURCES-4",
            ),
            INSTALLED_KERNEL_CHECK,
        ],
    )
    assert f"URIs: {DEBIAN_MIRROR}" in console  # the mirror was rewritten
    assert "URIs: http://archive.ubuntu.com" not in console
    assert "install ok installed linux-image-generic" in console
    assert "Debian GNU/Linux 12" in console


INSTALLED_KERNEL_CHECK = Exchange(
    "dpkg-query -W -f='${Status} ${Package}\\n' linux-image-generic; echo PKG-$((3+3))", r"PKG-6"
)


def test_vm_ubuntu_minimal_debootstrapped_from_a_stand_in_mirror_boots(
    tmp_path: Path, shared_cache: Path, stand_in_kernel: tuple[Path, str, str]
) -> None:
    """ubuntu-minimal's own path (debootstrap, sources.list with the release's pockets,
    DIB_UBUNTU_KERNEL's package, ubuntu-common), with the Debian mirror standing in for
    Ubuntu's archive, which is out of reach here."""
    _, _, repo = stand_in_kernel
    env = clean_env(
        tmp_path,
        DIB_RELEASE="bookworm",
        DIB_IMAGE_CACHE=str(shared_cache),
        DIB_DISTRIBUTION_MIRROR=DEBIAN_MIRROR,
        DIB_DEBIAN_COMPONENTS="main",
        DIB_UBUNTU_MIRROR_DISTS="updates",
        DIB_TEST_KERNEL_REPO=repo,
    )
    elements = ["vm", "ubuntu-minimal", "stand-in-kernel", "serial-autologin"]
    out = build_image(tmp_path, env, "ubuntu-minimal", elements)
    console = boot_update_grub_and_reboot(
        out / "ubuntu-minimal.qcow2",
        efi=False,
        checks=[
            Exchange("cat /etc/apt/sources.list; echo SOURCES-$((2+2))", r"SOURCES-4"),
            INSTALLED_KERNEL_CHECK,
        ],
    )
    assert f"deb {DEBIAN_MIRROR} bookworm main" in console
    assert f"deb {DEBIAN_MIRROR} bookworm-updates main" in console
    assert "install ok installed linux-image-generic" in console
