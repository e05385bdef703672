"""The bootloader element's GRUB writer: grub.cfg, /etc/default/grub and GRUB's sectors."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from conftest import builtin_element

from dibpy.blockdev.disk import assemble_disk
from dibpy.blockdev.model import SECTOR, DiskLayout, Filesystem, MiB, Partition
from dibpy.host.run import Runner

BOOTLOADER = builtin_element("bootloader")  # GRUB is the bootloader element's own code
BOOT, GRUB = BOOTLOADER.boot, BOOTLOADER.grub
BootloaderError = BOOT.BootloaderError
GrubOptions = BOOT.GrubOptions
Kernel = BOOT.Kernel
find_kernels = BOOT.find_kernels
finish_bootloader = BOOT.finish_bootloader
firmware_for = BOOT.firmware_for
grub_cfg = BOOT.grub_cfg
install_efi = BOOT.install_efi
prepare_bios = BOOT.prepare_bios
prepare_bootloader = BOOT.prepare_bootloader
write_default_grub = BOOT.write_default_grub
BLOCKLIST = GRUB.BLOCKLIST
DRIVE_CHECK = GRUB.DRIVE_CHECK
KERNEL_SECTOR = GRUB.KERNEL_SECTOR
bios_boot_partition = GRUB.bios_boot_partition
core_img_sector = GRUB.core_img_sector
default_grub_text = GRUB.default_grub_text
grub_prefix = GRUB.grub_prefix
patch_boot_img = GRUB.patch_boot_img
patch_core_img = GRUB.patch_core_img

ROOT_UUID = "0d5c7c0e-7a6b-4a3c-9f3e-1a2b3c4d5e6f"
BOOT_UUID = "6b1e4a55-3f0e-4c3a-8d1e-2f7f0c9a1b2c"
HOST_GRUB = Path("/usr/lib/grub")
needs_host_grub_pc = pytest.mark.skipif(
    not (HOST_GRUB / "i386-pc/kernel.img").is_file(), reason="grub-pc-bin is not installed"
)
needs_host_grub_efi = pytest.mark.skipif(
    not (HOST_GRUB / "x86_64-efi/kernel.img").is_file(), reason="grub-efi-amd64-bin missing"
)


def root_fs() -> Filesystem:
    return Filesystem("ext4", "cloudimg-rootfs", ROOT_UUID, "/")


def mbr_layout(first_sector: int = 2048) -> DiskLayout:
    start = first_sector * SECTOR
    return DiskLayout(
        "image0",
        64 * MiB,
        "mbr",
        (Partition("root", 1, start, 64 * MiB - start, "0x83", True, root_fs()),),
        disk_id="0xdeadbeef",
    )


def gpt_layout() -> DiskLayout:
    return DiskLayout(
        "image0",
        64 * MiB,
        "gpt",
        (
            Partition("BSP", 1, MiB, 8 * MiB, "EF02"),
            Partition("root", 2, 9 * MiB, 54 * MiB, "8300", False, root_fs()),
        ),
    )


def efi_layout() -> DiskLayout:
    return DiskLayout(
        "image0",
        96 * MiB,
        "gpt",
        (
            Partition(
                "ESP",
                1,
                MiB,
                16 * MiB,
                "EF00",
                False,
                Filesystem("vfat", "MKFS_ESP", "1A2B-3C4D", "/boot/efi"),
            ),
            Partition("BSP", 2, 17 * MiB, 8 * MiB, "EF02"),
            Partition("root", 3, 25 * MiB, 70 * MiB, "8300", False, root_fs()),
        ),
    )


def fake_tree(tmp_path: Path) -> Path:
    """A tree with two kernels and the host's GRUB modules standing in for the image's."""
    tree = tmp_path / "root"
    (tree / "boot").mkdir(parents=True)
    (tree / "etc/default").mkdir(parents=True)
    for version in ("6.1.0-9-amd64", "6.1.0-10-amd64"):
        (tree / f"boot/vmlinuz-{version}").write_bytes(b"k" * 1000)
        (tree / f"boot/initrd.img-{version}").write_bytes(b"i" * 1000)
    (tree / "usr/lib/grub").mkdir(parents=True)
    for platform in ("i386-pc", "x86_64-efi"):
        if (HOST_GRUB / platform).is_dir():  # copied: a link to the host is not followed
            shutil.copytree(HOST_GRUB / platform, tree / "usr/lib/grub" / platform)
    return tree


def sfdisk_json(image: Path) -> dict[str, object]:
    out = subprocess.run(
        ["sfdisk", "--json", str(image)], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out)  # type: ignore[no-any-return]


def debugfs_cat(image: Path, offset: int, path: str) -> bytes:
    return subprocess.run(
        ["debugfs", "-R", f"cat {path}", f"{image}?offset={offset}"],
        check=True,
        capture_output=True,
    ).stdout


# -------------------------------------------------------------------------------- grub.cfg


def test_grub_cfg_names_root_by_uuid_with_serial_console() -> None:
    kernels = [Kernel("6.1.0-10-amd64", "vmlinuz-6.1.0-10-amd64", "initrd.img-6.1.0-10-amd64")]
    text = grub_cfg(root_uuid=ROOT_UUID, kernels=kernels)
    lines = [line.strip() for line in text.splitlines()]
    assert f"search --no-floppy --fs-uuid --set=root {ROOT_UUID}" in lines
    assert (
        f"linux /boot/vmlinuz-6.1.0-10-amd64 root=UUID={ROOT_UUID} ro console=tty0 "
        "console=ttyS0,115200 no_timer_check nofb nomodeset gfxpayload=text"
    ) in lines
    assert "initrd /boot/initrd.img-6.1.0-10-amd64" in lines
    assert "serial --speed=115200 --unit=0 --word=8 --parity=no --stop=1" in lines
    assert "terminal_input serial console" in lines
    assert "terminal_output serial console" in lines
    assert "set timeout=5" in lines
    for module in ("part_msdos", "part_gpt", "ext2"):
        assert f"insmod {module}" in lines


def test_grub_cfg_options_and_separate_boot() -> None:
    options = GrubOptions(
        cmdline="quiet", timeout=1, use_serial_console=False, no_timer_check=False
    )
    text = grub_cfg(
        root_uuid=ROOT_UUID,
        boot_uuid=BOOT_UUID,
        boot_prefix="",
        kernels=[Kernel("1", "vmlinuz-1", None)],
        options=options,
    )
    assert f"search --no-floppy --fs-uuid --set=root {BOOT_UUID}" in text
    assert f"linux /vmlinuz-1 root=UUID={ROOT_UUID} ro console=tty0 quiet\n" in text
    assert "initrd" not in text
    assert "serial" not in text
    assert "set timeout=1" in text


def test_find_kernels_newest_first(tmp_path: Path) -> None:
    tree = fake_tree(tmp_path)
    (tree / "boot/vmlinuz-6.1.0-9-amd64.dpkg-bak").write_bytes(b"old")
    (tree / "boot/initrd.img-6.1.0-10-amd64.dpkg-bak").write_bytes(b"old")
    (tree / "boot/vmlinuz-5.10.0-1-amd64").write_bytes(b"k")  # no initrd for this one
    assert find_kernels(tree / "boot") == [
        Kernel("6.1.0-10-amd64", "vmlinuz-6.1.0-10-amd64", "initrd.img-6.1.0-10-amd64"),
        Kernel("6.1.0-9-amd64", "vmlinuz-6.1.0-9-amd64", "initrd.img-6.1.0-9-amd64"),
        Kernel("5.10.0-1-amd64", "vmlinuz-5.10.0-1-amd64", None),
    ]
    text = grub_cfg(root_uuid=ROOT_UUID, kernels=find_kernels(tree / "boot"))
    assert text.index("6.1.0-10-amd64") < text.index("6.1.0-9-amd64") < text.index("5.10.0")


def test_no_kernel_is_an_error() -> None:
    with pytest.raises(BootloaderError, match="No kernel found"):
        grub_cfg(root_uuid=ROOT_UUID, kernels=[])


def test_options_from_environment() -> None:
    assert GrubOptions.from_environment({}) == GrubOptions()
    options = GrubOptions.from_environment(
        {
            "DIB_BOOTLOADER_DEFAULT_CMDLINE": "quiet splash",
            "DIB_GRUB_TIMEOUT": "0",
            "DIB_BOOTLOADER_SERIAL_CONSOLE": "ttyS1,9600",
            "DIB_NO_TIMER_CHECK": "False",
        }
    )
    assert options.timeout == 0
    assert options.kernel_args() == "console=tty0 console=ttyS1,9600 quiet splash"
    assert GrubOptions.from_environment({"DIB_BOOTLOADER_TIMEOUT": "7"}).timeout == 7
    with pytest.raises(BootloaderError, match="whole number"):
        GrubOptions.from_environment({"DIB_GRUB_TIMEOUT": "soon"})


# ------------------------------------------------------------------------ /etc/default/grub

DEBIAN_DEFAULT_GRUB = """\
# If you change this file, run 'update-grub' afterwards to update
GRUB_DEFAULT=0
GRUB_TIMEOUT=5
GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`
GRUB_CMDLINE_LINUX_DEFAULT="quiet console=tty1"
GRUB_CMDLINE_LINUX="console=ttyS1,9600 net.ifnames=0 boot=LABEL=x"
#GRUB_TERMINAL=console
"""


def parse_default_grub(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            assert key not in found, f"{key} set twice"
            found[key] = value
    return found


def test_default_grub_edited_like_dib() -> None:
    text = default_grub_text(
        DEBIAN_DEFAULT_GRUB, GrubOptions(timeout=3), root_device=f"UUID={ROOT_UUID}"
    )
    values = parse_default_grub(text)
    assert values["GRUB_DEVICE"] == f"UUID={ROOT_UUID}"
    assert values["GRUB_DISABLE_LINUX_UUID"] == "true"
    assert values["GRUB_TIMEOUT"] == "3"
    assert values["GRUB_TIMEOUT_STYLE"] == "menu"
    assert values["GRUB_TERMINAL"] == '"serial console"'
    assert values["GRUB_SERIAL_COMMAND"] == (
        '"serial --speed=115200 --unit=0 --word=8 --parity=no --stop=1"'
    )
    assert values["GRUB_GFXPAYLOAD_LINUX"] == "auto"
    assert values["GRUB_CMDLINE_LINUX_DEFAULT"] == (
        '"console=tty0 console=ttyS0,115200 no_timer_check nofb nomodeset gfxpayload=text"'
    )
    assert values["GRUB_CMDLINE_LINUX"] == '"net.ifnames=0"'  # console= and boot= removed
    assert values["GRUB_DISTRIBUTOR"].startswith("`lsb_release")
    assert "#GRUB_TERMINAL=console" in text  # comments stay
    # Editing twice changes nothing more.
    again = default_grub_text(text, GrubOptions(timeout=3), root_device=f"UUID={ROOT_UUID}")
    assert again == text


def test_write_default_grub_creates_the_file(tmp_path: Path) -> None:
    tree = tmp_path / "root"
    tree.mkdir()
    path = write_default_grub(tree, GrubOptions(), root_device="LABEL=cloudimg-rootfs")
    assert path == tree / "etc/default/grub"
    values = parse_default_grub(path.read_text())
    assert values["GRUB_DEVICE"] == "LABEL=cloudimg-rootfs"
    assert values["GRUB_DEFAULT"] == "0"
    result = subprocess.run(["bash", "-n", str(path)], capture_output=True)
    assert result.returncode == 0


# ------------------------------------------------------------------------- boot.img, core.img


def fake_mbr() -> bytes:
    mbr = bytearray(os.urandom(SECTOR))
    mbr[510:512] = b"\x55\xaa"
    return bytes(mbr)


def test_patch_boot_img_keeps_table_and_sets_pointer() -> None:
    boot = bytearray(os.urandom(SECTOR))
    mbr = fake_mbr()
    patched = patch_boot_img(bytes(boot), mbr, 2048)
    assert patched[0:3] == boot[0:3]  # the jump
    assert patched[0x03:0x5A] == mbr[0x03:0x5A]  # the BPB area comes from the disk
    assert struct.unpack_from("<Q", patched, KERNEL_SECTOR)[0] == 2048
    assert patched[0x64:DRIVE_CHECK] == boot[0x64:DRIVE_CHECK]
    assert patched[DRIVE_CHECK : DRIVE_CHECK + 2] == b"\x90\x90"
    assert patched[DRIVE_CHECK + 2 : 440] == boot[DRIVE_CHECK + 2 : 440]
    assert patched[440:512] == mbr[440:512]  # signature, table, 0x55AA
    assert patched[510:512] == b"\x55\xaa"


def fake_core(sectors: int) -> bytes:
    core = bytearray(sectors * SECTOR)
    struct.pack_into("<QHH", core, BLOCKLIST, 2, sectors - 1, 0x820)
    return bytes(core)


def test_patch_core_img_points_blocklist_after_first_sector() -> None:
    core = patch_core_img(fake_core(54), 2048)
    assert struct.unpack_from("<QHH", core, BLOCKLIST) == (2049, 53, 0x820)
    assert core[SECTOR:] == fake_core(54)[SECTOR:]
    with pytest.raises(BootloaderError, match="block list"):
        patch_core_img(fake_core(54)[: 40 * SECTOR], 1)


def test_core_img_placement_and_fit() -> None:
    assert core_img_sector(mbr_layout(), 60 * SECTOR) == 1
    assert core_img_sector(gpt_layout(), 60 * SECTOR) == 2048
    with pytest.raises(BootloaderError, match="does not fit in the gap"):
        core_img_sector(mbr_layout(first_sector=34), 60 * SECTOR)
    with pytest.raises(BootloaderError, match="does not fit in BIOS boot partition"):
        core_img_sector(gpt_layout(), 9 * MiB)


def test_gpt_without_bios_boot_partition_is_refused(tmp_path: Path) -> None:
    layout = DiskLayout(
        "image0", 64 * MiB, "gpt", (Partition("root", 1, MiB, 62 * MiB, "8300", False, root_fs()),)
    )
    assert firmware_for(layout) == (False, False)
    with pytest.raises(BootloaderError, match="no BIOS boot partition"):
        prepare_bios(fake_tree(tmp_path), layout, Runner())
    with pytest.raises(BootloaderError, match="cannot be made bootable"):
        prepare_bootloader(fake_tree(tmp_path / "2"), layout, Runner())


def test_prefix_names_the_partition_holding_boot() -> None:
    assert grub_prefix(mbr_layout()) == "(,msdos1)/boot/grub"
    assert grub_prefix(efi_layout()) == "(,gpt3)/boot/grub"
    separate = DiskLayout(
        "image0",
        64 * MiB,
        "gpt",
        (
            Partition("BSP", 1, MiB, MiB, "EF02"),
            Partition(
                "boot",
                2,
                2 * MiB,
                8 * MiB,
                "8300",
                False,
                Filesystem("ext4", "boot", BOOT_UUID, "/boot"),
            ),
            Partition("root", 3, 10 * MiB, 50 * MiB, "8300", False, root_fs()),
        ),
    )
    assert grub_prefix(separate) == "(,gpt2)/grub"


def efi_only_layout() -> DiskLayout:
    esp = Filesystem("vfat", "MKFS_ESP", "1A2B-3C4D", "/boot/efi")
    return DiskLayout(
        "image0",
        64 * MiB,
        "gpt",
        (
            Partition("ESP", 1, MiB, 16 * MiB, "EF00", False, esp),
            Partition("root", 2, 17 * MiB, 46 * MiB, "8300", False, root_fs()),
        ),
    )


def test_firmware_for_layouts() -> None:
    assert firmware_for(mbr_layout()) == (True, False)
    assert firmware_for(gpt_layout()) == (True, False)
    assert firmware_for(efi_layout()) == (True, True)
    assert firmware_for(efi_only_layout()) == (False, True)
    assert bios_boot_partition(efi_only_layout()) is None
    assert bios_boot_partition(mbr_layout()) is None
    assert bios_boot_partition(gpt_layout()) == gpt_layout().partitions[0]


def test_efi_only_layout_gets_no_bios_code(tmp_path: Path) -> None:
    tree = fake_tree(tmp_path)
    prepared = prepare_bootloader(tree, efi_only_layout(), Runner())
    assert prepared.bios is None and prepared.efi
    assert (tree / "boot/efi/EFI/BOOT/BOOTX64.EFI").is_file() or not (
        HOST_GRUB / "x86_64-efi/kernel.img"
    ).is_file()


# ------------------------------------------------------------------- on real disk images


@needs_host_grub_pc
@pytest.mark.parametrize("table", ["mbr", "gpt"])
def test_bios_boot_written_onto_disk(tmp_path: Path, table: str) -> None:
    tree = fake_tree(tmp_path)
    layout = mbr_layout() if table == "mbr" else gpt_layout()
    runner = Runner()
    prepared = prepare_bootloader(tree, layout, runner)
    assert prepared.bios is not None and not prepared.efi
    assert (tree / "boot/grub/i386-pc/normal.mod").is_file()
    assert (tree / "boot/grub/grub.cfg").is_file()
    assert "GRUB_TERMINAL" in (tree / "etc/default/grub").read_text()
    grubenv = (tree / "boot/grub/grubenv").read_text()
    assert len(grubenv) == 1024 and grubenv.startswith("# GRUB Environment Block\n")
    image = tmp_path / "disk.raw"
    assemble_disk(layout, tree, image, runner)
    table_before = sfdisk_json(image)
    finish_bootloader(image, layout, prepared)
    assert sfdisk_json(image) == table_before

    data = image.read_bytes()
    boot_img = (HOST_GRUB / "i386-pc/boot.img").read_bytes()
    core_sector = 1 if table == "mbr" else 2048
    mbr = data[:SECTOR]
    assert mbr[510:512] == b"\x55\xaa"
    assert struct.unpack_from("<Q", mbr, KERNEL_SECTOR)[0] == core_sector
    assert mbr[DRIVE_CHECK : DRIVE_CHECK + 2] == b"\x90\x90"
    assert mbr[:3] == boot_img[:3]
    assert mbr[0x68:440] == boot_img[0x68:440]
    if table == "mbr":
        assert mbr[440:444] == bytes.fromhex("efbeadde")  # disk signature 0xdeadbeef kept

    core = prepared.bios.core_img
    placed = data[core_sector * SECTOR : core_sector * SECTOR + len(core)]
    start, count, segment = struct.unpack_from("<QHH", placed, BLOCKLIST)
    assert (start, count, segment) == (core_sector + 1, len(core) // SECTOR - 1, 0x820)
    assert placed[SECTOR:] == core[SECTOR:]
    assert placed[:BLOCKLIST] == core[:BLOCKLIST]
    # grub-mkimage's own block list already pointed at sector 2 (the default for sector 1).
    assert struct.unpack_from("<Q", core, BLOCKLIST)[0] == 2
    # the first partition starts after core.img: nothing of it was overwritten
    root_part = layout.partitions[-1]
    assert core_sector * SECTOR + len(core) <= root_part.start
    cfg = debugfs_cat(image, root_part.start, "/boot/grub/grub.cfg").decode()
    assert f"root=UUID={ROOT_UUID}" in cfg
    assert debugfs_cat(image, root_part.start, "/boot/grub/i386-pc/normal.mod")[:4] == b"\x7fELF"


@needs_host_grub_pc
def test_core_img_too_big_for_gap(tmp_path: Path) -> None:
    tree = fake_tree(tmp_path)
    layout = mbr_layout(first_sector=40)
    prepared = prepare_bootloader(tree, layout, Runner())
    image = tmp_path / "disk.raw"
    assemble_disk(layout, tree, image, Runner())
    with pytest.raises(BootloaderError, match="does not fit"):
        finish_bootloader(image, layout, prepared)


def test_install_efi_with_shim_and_signed_grub(tmp_path: Path) -> None:
    tree = fake_tree(tmp_path)
    (tree / "usr/lib/shim").mkdir(parents=True)
    (tree / "usr/lib/shim/shimx64.efi.signed").write_bytes(b"MZshim")
    (tree / "usr/lib/shim/mmx64.efi.signed").write_bytes(b"MZmok")
    (tree / "usr/lib/shim/fbx64.efi.signed").write_bytes(b"MZfallback")
    (tree / "usr/lib/grub/x86_64-efi-signed").mkdir(parents=True)
    (tree / "usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed").write_bytes(
        b"MZgrub\x00normal (memdisk)/grub.cfg\x00/EFI/debian\x00sbat"
    )
    layout = efi_layout()
    loader = install_efi(tree, layout, Runner())
    esp = tree / "boot/efi"
    assert loader == esp / "EFI/BOOT/BOOTX64.EFI"
    assert loader.read_bytes() == b"MZshim"
    assert (esp / "EFI/BOOT/grubx64.efi").read_bytes().startswith(b"MZgrub")
    assert (esp / "EFI/BOOT/mmx64.efi").read_bytes() == b"MZmok"
    assert not (esp / "EFI/BOOT/fbx64.efi").exists()  # fallback would loop on NVRAM
    stub = (esp / "EFI/debian/grub.cfg").read_text()
    assert stub == (
        f"search --no-floppy --fs-uuid --set=root {ROOT_UUID}\n"
        "set prefix=($root)/boot/grub\n"
        "configfile $prefix/grub.cfg\n"
    )
    assert (esp / "EFI/BOOT/grub.cfg").read_text() == stub
    assert "linux /boot/vmlinuz-6.1.0-10-amd64" in (tree / "boot/grub/grub.cfg").read_text()


@needs_host_grub_efi
def test_install_efi_builds_grub_without_signed_loaders(tmp_path: Path) -> None:
    tree = fake_tree(tmp_path)
    loader = install_efi(tree, efi_layout(), Runner())
    data = loader.read_bytes()
    assert data[:2] == b"MZ"
    assert b"configfile $prefix/grub.cfg" in data  # the embedded early config
    assert not (tree / "boot/grub/x86_64-efi/dibpy-early.cfg").exists()
    assert (tree / "boot/grub/x86_64-efi/normal.mod").is_file()


def test_install_efi_needs_an_esp(tmp_path: Path) -> None:
    with pytest.raises(BootloaderError, match="no EFI system partition"):
        install_efi(fake_tree(tmp_path), mbr_layout(), Runner())
