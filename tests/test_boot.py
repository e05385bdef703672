"""The proof: disks made from a real Debian tree boot to a login prompt under qemu (TCG).

Each test takes a fresh copy of the cached bookworm tree (tests/kernel_tree.py), sets GRUB
up, assembles the disk without loop devices or mounts, and boots it with
``dibpy.frontends.qemu.boot`` until ``login:`` shows on the serial console. TCG is used throughout:
KVM hangs on the development machine. Each boot takes about 40 s there.
"""

from __future__ import annotations

import os
import pty
import select
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from conftest import builtin_element

from dibpy.blockdev.disk import assemble_disk
from dibpy.blockdev.model import DiskLayout, Filesystem, MiB, Partition
from dibpy.frontends.qemu import BootError, Exchange, boot, clean_console, qemu_command
from dibpy.host.run import Runner

BOOTLOADER = builtin_element("bootloader")  # GRUB is the bootloader element's own code
BOOT, GRUB = BOOTLOADER.boot, BOOTLOADER.grub
GrubOptions = BOOT.GrubOptions
finish_bootloader = BOOT.finish_bootloader
prepare_bootloader = BOOT.prepare_bootloader

pytest_plugins = ("kernel_tree",)  # the kernel_tree fixture: tests/kernel_tree.py

DISK = 3 * 1024 * MiB
BOOT_TIMEOUT = 600
LOGIN = r"login:"


def root_fs() -> Filesystem:
    # DIB's mkfs_root defaults: label cloudimg-rootfs, -i 4096 -J size=64
    return Filesystem(
        "ext4",
        "cloudimg-rootfs",
        str(uuid.uuid4()),
        "/",
        ("-i", "4096", "-J", "size=64"),
        fsck_passno=1,
    )


def block_device_mbr() -> DiskLayout:
    return DiskLayout(
        "image0", DISK, "mbr", (Partition("root", 1, MiB, DISK - MiB, "0x83", True, root_fs()),)
    )


def block_device_gpt() -> DiskLayout:
    return DiskLayout(
        "image0",
        DISK,
        "gpt",
        (
            Partition("BSP", 1, MiB, 8 * MiB, "EF02"),
            Partition("root", 2, 9 * MiB, DISK - 10 * MiB, "8300", False, root_fs()),
        ),
    )


def block_device_efi() -> DiskLayout:
    volume_id = uuid.uuid4().hex[:8].upper()
    esp = Filesystem(
        "vfat", "MKFS_ESP", f"{volume_id[:4]}-{volume_id[4:]}", "/boot/efi", fsck_passno=2
    )
    return DiskLayout(
        "image0",
        DISK,
        "gpt",
        (
            Partition("ESP", 1, MiB, 550 * MiB, "EF00", False, esp),
            Partition("BSP", 2, 551 * MiB, 8 * MiB, "EF02"),
            Partition("root", 3, 559 * MiB, DISK - 560 * MiB, "8300", False, root_fs()),
        ),
    )


def mbr_with_boot_partition() -> DiskLayout:
    boot_fs = Filesystem("ext4", "boot", str(uuid.uuid4()), "/boot")
    return DiskLayout(
        "image0",
        DISK,
        "mbr",
        (
            Partition("boot", 1, MiB, 256 * MiB, "0x83", True, boot_fs),
            Partition("root", 2, 257 * MiB, DISK - 257 * MiB, "0x83", False, root_fs()),
        ),
    )


def write_fstab(tree: Path, layout: DiskLayout) -> None:
    """Writing fstab is the build's job (the lead's code), not the disk writer's: the test
    writes one so that systemd mounts what the layout says."""
    lines = [
        f"UUID={fs.uuid} {fs.mount_point} {fs.fstype} {fs.fstab_options} 0 {fs.fsck_passno}"
        for fs in layout.filesystems
        if fs.mount_point
    ]
    (tree / "etc/fstab").write_text("\n".join(lines) + "\n")


def make_disk(tree: Path, layout: DiskLayout, image: Path) -> None:
    runner = Runner()
    write_fstab(tree, layout)
    started = time.monotonic()
    prepared = prepare_bootloader(tree, layout, runner, GrubOptions(timeout=1))
    assemble_disk(layout, tree, image, runner)
    finish_bootloader(image, layout, prepared)
    print(
        f"{image.name}: disk made in {time.monotonic() - started:.1f}s, "
        f"{image.stat().st_blocks * 512 // MiB} MiB allocated of {DISK // MiB} MiB"
    )


def boot_and_check(image: Path, *, efi: bool) -> None:
    before = image.stat()
    result = boot(
        image,
        efi=efi,
        expect=LOGIN,
        timeout=BOOT_TIMEOUT,
        accel="tcg",
        console_copy=image.with_suffix(f".{'efi' if efi else 'bios'}.console"),
    )
    print(
        f"{image.name} ({'UEFI' if efi else 'BIOS'}): {result.match!r} after {result.seconds:.0f}s"
    )
    assert result.accel == "tcg"
    assert "Linux version" in result.console
    after = image.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


@pytest.mark.slow
def test_mbr_bios_boot_from_qcow2(kernel_tree: Path, tmp_path: Path) -> None:
    raw = tmp_path / "mbr.raw"
    make_disk(kernel_tree, block_device_mbr(), raw)
    qcow2 = tmp_path / "mbr.qcow2"
    started = time.monotonic()
    subprocess.run(
        ["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(qcow2)], check=True
    )
    print(f"qemu-img convert: {time.monotonic() - started:.1f}s")
    raw.unlink()
    boot_and_check(qcow2, efi=False)


@pytest.mark.slow
def test_gpt_bios_boot_partition(kernel_tree: Path, tmp_path: Path) -> None:
    image = tmp_path / "gpt.raw"
    make_disk(kernel_tree, block_device_gpt(), image)
    boot_and_check(image, efi=False)


@pytest.mark.slow
def test_efi_layout_boots_with_uefi_and_bios(kernel_tree: Path, tmp_path: Path) -> None:
    image = tmp_path / "efi.raw"
    make_disk(kernel_tree, block_device_efi(), image)
    boot_and_check(image, efi=True)
    console = image.with_suffix(".efi.console").read_text(errors="replace")
    assert "EFI v" in console  # the kernel was started by UEFI firmware
    boot_and_check(image, efi=False)  # DIB's efi layout is hybrid: the BSP serves BIOS


@pytest.mark.slow
def test_efi_only_disk_with_grub_built_by_mkimage(kernel_tree: Path, tmp_path: Path) -> None:
    """No shim in the image: BOOTX64.EFI is GRUB built by the image's grub-mkimage."""
    (kernel_tree / "usr/lib/shim/shimx64.efi.signed").unlink()
    esp = Filesystem("vfat", "MKFS_ESP", "0E5F-1A2B", "/boot/efi")
    layout = DiskLayout(
        "image0",
        DISK,
        "gpt",
        (
            Partition("ESP", 1, MiB, 128 * MiB, "EF00", False, esp),
            Partition("root", 2, 129 * MiB, DISK - 130 * MiB, "8300", False, root_fs()),
        ),
    )
    image = tmp_path / "efi-only.raw"
    make_disk(kernel_tree, layout, image)
    assert not (kernel_tree / "boot/efi/EFI/BOOT/grubx64.efi").exists()
    boot_and_check(image, efi=True)


@pytest.mark.slow
def test_a_conversation_on_the_serial_console(kernel_tree: Path, tmp_path: Path) -> None:
    """Log in, run commands, and survive a reboot: what the vm image tests build on."""
    from kernel_tree import ROOT_PASSWORD  # after pytest loaded it as a plugin

    image = tmp_path / "talk.raw"
    make_disk(kernel_tree, block_device_mbr(), image)
    result = boot(
        image,
        efi=False,
        expect=LOGIN,
        timeout=BOOT_TIMEOUT,
        reboot=True,
        then=[
            Exchange("root", r"Password:"),
            Exchange(ROOT_PASSWORD, r"root@dibpy-test:~# "),
            Exchange("echo ANSWER-$((6*7))", r"ANSWER-\d+"),
            Exchange("reboot", LOGIN),
        ],
    )
    assert result.match == "login:"
    assert "ANSWER-42" in result.console
    assert result.console.count("Linux version") == 2  # booted twice in one qemu


@pytest.mark.slow
def test_root_on_a_logical_partition(kernel_tree: Path, tmp_path: Path) -> None:
    """GRUB finds /boot on logical partition 5 ((,msdos5)) inside the extended partition."""
    layout = DiskLayout(
        "image0",
        DISK,
        "mbr",
        (Partition("root", 5, 2 * MiB, DISK - 3 * MiB, "0x83", True, root_fs()),),
        extended_start=MiB,
    )
    image = tmp_path / "logical.raw"
    make_disk(kernel_tree, layout, image)
    boot_and_check(image, efi=False)


@pytest.mark.slow
def test_separate_boot_partition(kernel_tree: Path, tmp_path: Path) -> None:
    image = tmp_path / "boot-part.raw"
    make_disk(kernel_tree, mbr_with_boot_partition(), image)
    boot_and_check(image, efi=False)


# ------------------------------------------------------------------ dibpy.frontends.qemu, quickly


def qemu_processes_using(path: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"qemu-system" in cmdline and str(path).encode() in cmdline:
                found.append(int(entry.name))
    return found


def test_qemu_command_never_writes_the_image(tmp_path: Path) -> None:
    image = tmp_path / "disk.raw"
    image.write_bytes(bytes(MiB))
    argv = qemu_command(image, efi=False, console_socket=tmp_path / "c.sock", vars_copy=None)
    assert "-snapshot" in argv
    assert f"socket,id=console,path={tmp_path / 'c.sock'},server=on,wait=on" in argv
    assert "-no-reboot" in argv
    assert argv[argv.index("-accel") + 1] == "tcg"
    assert f"file={image},format=raw,if=virtio" in argv
    qcow2 = tmp_path / "disk.qcow2"
    qcow2.write_bytes(b"QFI\xfb" + bytes(100))
    vars_copy = tmp_path / "vars.fd"
    argv = qemu_command(qcow2, efi=True, console_socket=tmp_path / "c.sock", vars_copy=vars_copy)
    assert f"file={qcow2},format=qcow2,if=virtio" in argv
    assert any(a.startswith("if=pflash") and "readonly=on" in a for a in argv)
    assert f"if=pflash,format=raw,unit=1,file={vars_copy}" in argv


def test_reboot_keeps_qemu_running(tmp_path: Path) -> None:
    image = tmp_path / "disk.raw"
    image.write_bytes(bytes(MiB))
    argv = qemu_command(image, efi=False, console_socket=None, vars_copy=None, reboot=True)
    assert "-no-reboot" not in argv


def test_interactive_command_uses_this_terminal(tmp_path: Path) -> None:
    image = tmp_path / "disk.raw"
    image.write_bytes(bytes(MiB))
    argv = qemu_command(image, efi=False, console_socket=None, vars_copy=None)
    assert argv[argv.index("-serial") + 1] == "mon:stdio"
    assert "-nographic" in argv and "-snapshot" in argv


def test_clean_console_drops_escape_sequences() -> None:
    raw = "\x1b[2J\x1b[01;01H\x1b[0;32m  OK  \x1b[0m] Started\r\ndibpy login: "
    assert clean_console(raw) == "  OK  ] Started\ndibpy login: "


def test_boot_timeout_reports_and_stops_qemu(tmp_path: Path) -> None:
    image = tmp_path / "blank.raw"
    image.write_bytes(bytes(MiB))  # nothing to boot: the console stays silent
    started = time.monotonic()
    with pytest.raises(BootError, match=r"did not show 'login:'.*within 3s"):
        boot(image, efi=False, expect=LOGIN, timeout=3)
    assert time.monotonic() - started < 30
    assert qemu_processes_using(image) == []


def read_until(fd: int, pattern: bytes, timeout: float) -> bytes:
    """Read the pty ``fd`` until ``pattern`` shows or ``timeout`` passes."""
    seen = b""
    deadline = time.monotonic() + timeout
    while pattern not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                seen += os.read(fd, 4096)
            except OSError:  # the other side closed
                break
    return seen


def test_interactive_boot_shows_the_console_on_the_terminal_and_quits(tmp_path: Path) -> None:
    """``dibpy boot IMAGE`` without --expect: the firmware's serial output reaches the
    terminal, and Ctrl-A X (qemu's key) ends qemu and the command with status 0."""
    image = tmp_path / "blank.raw"
    image.write_bytes(bytes(MiB))
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "dibpy", "boot", str(image)],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        close_fds=True,
    )
    os.close(terminal)
    try:
        seen = read_until(controller, b"Booting from Hard Disk", timeout=60)
        assert b"Ctrl-A X quits" in seen, seen
        assert b"Booting from Hard Disk" in seen, seen
        os.write(controller, b"\x01x")
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(controller)
    assert qemu_processes_using(image) == []


def test_boot_without_qemu_names_the_package_and_exits_2(tmp_path: Path) -> None:
    image = tmp_path / "disk.raw"
    image.write_bytes(bytes(MiB))
    bin_dir = tmp_path / "bin"  # a PATH with sfdisk (for the ESP check) but no qemu
    bin_dir.mkdir()
    for tool in ("sfdisk",):
        found = shutil.which(tool)
        assert found is not None
        (bin_dir / tool).symlink_to(found)
    done = subprocess.run(
        [sys.executable, "-m", "dibpy", "boot", str(image), "--expect", "login:"],
        env={**os.environ, "PATH": str(bin_dir)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "apt-get install qemu-system-x86" in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr
