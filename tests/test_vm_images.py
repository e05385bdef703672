"""The proof: `dibpy build vm debian-minimal` and `vm ubuntu` images, made with no loop device
and no mount of the image, boot under qemu (TCG), and `update-grub` run inside the booted
machine leaves it bootable.

The images carry the test element `serial-autologin` (tests/elements) so that a shell waits
on the serial console; each test types `update-grub` into it, reboots the machine in the
same qemu and checks that the kernel command line still names the serial console.

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
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import build_dirs, clean_env, mount_lines, run_dibpy

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
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One image cache for the module: the first build fills it, the others reuse it."""
    return tmp_path_factory.mktemp("image-cache")


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


def partition_table(image: Path, scratch: Path) -> str:
    raw = scratch / "disk.raw"  # sparse: converting costs seconds, not gigabytes
    subprocess.run(["qemu-img", "convert", "-O", "raw", str(image), str(raw)], check=True)
    try:
        text = subprocess.run(
            ["sfdisk", "--json", str(raw)], capture_output=True, text=True, check=True
        ).stdout
    finally:
        raw.unlink()
    label: str = json.loads(text)["partitiontable"]["label"]
    return label


def boot_update_grub_and_reboot(image: Path, *, efi: bool, checks: list[Exchange]) -> str:
    """Boot to the autologin shell, run ``checks``, ``update-grub``, reboot, and return the
    console. Asserts that update-grub succeeded and the second boot came up the same way."""
    booted = qemu.boot(
        image,
        efi=efi,
        expect=PROMPT,
        timeout=BOOT_TIMEOUT,
        reboot=True,
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
    out = build_image(
        tmp_path, env, "debian", ["vm", "debian-minimal", "serial-autologin", *extra], "--checksum"
    )
    image = out / "debian.qcow2"
    sha = (out / "debian.qcow2.sha256").read_text().split()
    assert sha == [hashlib.sha256(image.read_bytes()).hexdigest(), "debian.qcow2"]
    assert partition_table(image, tmp_path) == table

    console = boot_update_grub_and_reboot(image, efi=efi, checks=[])
    assert "Debian GNU/Linux 12" in console
    if efi:
        assert "EFI v" in console  # started by the UEFI firmware, not the BIOS


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
