"""dibpy.blockdev.disk: raw disk images from a tree, with no loop device, mount or chroot."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from dibpy.blockdev.disk import (
    DiskError,
    assemble_disk,
    check_layout,
    gpt_type_guid,
    has_esp,
    mbr_type_hex,
    partition_types,
    sfdisk_script,
    split_tree,
)
from dibpy.blockdev.model import DiskLayout, Filesystem, MiB, Partition
from dibpy.host.run import Result, Runner

ROOT_UUID = "0d5c7c0e-7a6b-4a3c-9f3e-1a2b3c4d5e6f"
BOOT_UUID = "6b1e4a55-3f0e-4c3a-8d1e-2f7f0c9a1b2c"
ESP_ID = "1A2B-3C4D"
DISK_GUID = "11111111-2222-4333-8444-555555555555"
IS_ROOT = os.geteuid() == 0
MTOOLS_ENV = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}


class RecordingRunner(Runner):
    """A Runner that remembers every command it ran."""

    def __init__(self) -> None:
        super().__init__()
        self.commands: list[list[str]] = []

    def run(self, argv: Sequence[str | os.PathLike[str]], **kwargs: object) -> Result:
        self.commands.append([os.fspath(a) for a in argv])
        return super().run(argv, **kwargs)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------ helpers


def root_fs(**kw: object) -> Filesystem:
    return Filesystem("ext4", "cloudimg-rootfs", ROOT_UUID, "/", fsck_passno=1, **kw)  # type: ignore[arg-type]


def esp_fs() -> Filesystem:
    return Filesystem("vfat", "MKFS_ESP", ESP_ID, "/boot/efi")


def mbr_layout(size: int = 64 * MiB, fs: Filesystem | None = None) -> DiskLayout:
    part = Partition("root", 1, MiB, size - MiB, "0x83", True, fs or root_fs())
    return DiskLayout("image0", size, "mbr", (part,), disk_id="0x1a2b3c4d")


def efi_layout(size: int = 96 * MiB, esp_size: int = 16 * MiB) -> DiskLayout:
    """DIB's block-device-efi shape, plus a separate /boot: ESP, BSP, /boot, root."""
    esp_end = MiB + esp_size
    return DiskLayout(
        "image0",
        size,
        "gpt",
        (
            Partition("ESP", 1, MiB, esp_size, "EF00", False, esp_fs()),
            Partition("BSP", 2, esp_end, 8 * MiB, "EF02"),
            Partition(
                "boot",
                3,
                esp_end + 8 * MiB,
                16 * MiB,
                "8300",
                False,
                Filesystem("ext4", "boot", BOOT_UUID, "/boot"),
            ),
            Partition(
                "root", 4, esp_end + 24 * MiB, size - esp_end - 25 * MiB, "8300", False, root_fs()
            ),
        ),
        disk_id=DISK_GUID,
    )


def make_tree(tree: Path) -> None:
    """A small tree with the things that must survive: owners, modes, xattrs, links, nodes."""
    (tree / "etc").mkdir(parents=True)
    (tree / "etc/hostname").write_text("synthetic\n")
    (tree / "usr/bin").mkdir(parents=True)
    tool = tree / "usr/bin/tool"
    tool.write_text("#!/bin/sh\necho hi\n")
    tool.chmod(0o4751)
    os.link(tool, tree / "usr/bin/tool-link")
    os.symlink("/usr/bin/tool", tree / "usr/bin/tool-symlink")
    os.setxattr(tool, "user.dibpy", b"kept")
    (tree / "boot/efi/EFI/BOOT").mkdir(parents=True)
    (tree / "boot/vmlinuz-1.0").write_bytes(b"kernel" * 100)
    (tree / "boot").chmod(0o750)
    (tree / "boot/efi/EFI/BOOT/hello.txt").write_text("from the ESP\n")
    (tree / "tmp").mkdir(mode=0o1777)
    (tree / "tmp").chmod(0o1777)
    if IS_ROOT:
        os.chown(tool, 1234, 5678)
        os.chown(tree / "usr/bin/tool-symlink", 42, 43, follow_symlinks=False)
        os.mkdir(tree / "dev")
        os.mknod(tree / "dev/null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        tool.chmod(0o4751)  # chown clears set-uid


def snapshot(tree: Path) -> dict[str, tuple[object, ...]]:
    """Everything about the tree that assemble_disk must leave exactly as it was."""
    found: dict[str, tuple[object, ...]] = {}
    for path in [tree, *sorted(tree.rglob("*"))]:
        info = os.lstat(path)
        xattrs = tuple(
            sorted(
                (n, os.getxattr(path, n, follow_symlinks=False))
                for n in os.listxattr(path, follow_symlinks=False)
            )
        )
        link = os.readlink(path) if path.is_symlink() else None
        found[str(path.relative_to(tree))] = (
            info.st_ino,
            info.st_mode,
            info.st_uid,
            info.st_gid,
            info.st_nlink,
            info.st_size if not path.is_dir() else None,
            info.st_mtime_ns,
            xattrs,
            link,
        )
    return found


def partitions(image: Path) -> dict[str, object]:
    out = subprocess.run(
        ["sfdisk", "--json", str(image)], check=True, capture_output=True, text=True
    ).stdout
    table: dict[str, object] = json.loads(out)["partitiontable"]
    return table


def extract(image: Path, part: Partition, dest: Path) -> Path:
    with open(image, "rb") as src, open(dest, "wb") as out:
        src.seek(part.start)
        remaining = part.size
        while remaining:
            block = src.read(min(remaining, MiB))
            out.write(block)
            remaining -= len(block)
    return dest


def debugfs(fs_image: Path, request: str) -> str:
    return subprocess.run(
        ["debugfs", "-R", request, str(fs_image)], check=True, capture_output=True, text=True
    ).stdout


def names(fs_image: Path, directory: str) -> set[str]:
    """Entry names in ``directory`` of the file system, without . and .."""
    rows = debugfs(fs_image, f"ls -p {directory}").splitlines()
    return {row.split("/")[5] for row in rows if row.count("/") >= 6} - {".", ".."}


def field(text: str, name: str) -> str:
    match = re.search(rf"{name}:\s*(\S+)", text)
    assert match, f"{name} not in {text}"
    return match.group(1)


def mtools(command: str, image: Path, offset: int, *args: str) -> str:
    return subprocess.run(
        [command, "-i", f"{image}@@{offset}", *args],
        check=True,
        capture_output=True,
        text=True,
        env=MTOOLS_ENV,
    ).stdout


def fsck(fs_image: Path) -> None:
    result = subprocess.run(["e2fsck", "-fn", str(fs_image)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def mounts_below(path: Path) -> list[str]:
    with open("/proc/self/mountinfo") as info:
        return [line.split()[4] for line in info if line.split()[4].startswith(str(path))]


# -------------------------------------------------------------------------------- pure parts


def test_sfdisk_script_mbr() -> None:
    script = sfdisk_script(mbr_layout(), device_name="disk.img")
    assert script.splitlines() == [
        "label: dos",
        "label-id: 0x1a2b3c4d",
        "unit: sectors",
        "sector-size: 512",
        "",
        "disk.img1 : start=2048, size=129024, type=83, bootable",
    ]


def test_sfdisk_script_gpt_types_names_and_guid() -> None:
    script = sfdisk_script(efi_layout(), device_name="d")
    assert "label: gpt" in script
    assert f"label-id: {DISK_GUID.upper()}" in script
    assert 'd1 : start=2048, size=32768, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="ESP"' in (
        script
    )
    assert "type=21686148-6449-6E6F-744E-656564454649" in script
    assert script.count("type=0FC63DAF-8483-4772-8E79-3D69D8477DE4") == 2


def test_type_codes() -> None:
    assert gpt_type_guid("ef02") == "21686148-6449-6E6F-744E-656564454649"
    assert gpt_type_guid("8300") == "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
    guid = "0fc63daf-8483-4772-8e79-3d69d8477de4"
    assert gpt_type_guid(guid) == guid.upper()
    assert mbr_type_hex("0x83") == "83"
    assert mbr_type_hex("EF") == "ef"
    with pytest.raises(DiskError, match="Unknown GPT partition type"):
        gpt_type_guid("zz99")
    with pytest.raises(DiskError, match="Unknown MBR partition type"):
        mbr_type_hex("0x183")


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        (
            [Partition("a", 1, MiB, 40 * MiB, "0x83"), Partition("b", 2, 20 * MiB, MiB, "0x83")],
            "overlaps",
        ),
        ([Partition("a", 1, MiB, 64 * MiB, "0x83")], "outside the usable area"),
        ([Partition("a", 1, MiB + 100, MiB, "0x83")], "multiples of 512"),
        ([Partition("a", 5, MiB, MiB, "0x83")], "must lie inside the extended partition"),
        (
            [Partition("a", 1, MiB, MiB, "0x83"), Partition("b", 1, 3 * MiB, MiB, "0x83")],
            "used twice",
        ),
    ],
)
def test_check_layout_refuses(parts: list[Partition], message: str) -> None:
    with pytest.raises(DiskError, match=message):
        check_layout(DiskLayout("image0", 64 * MiB, "mbr", tuple(parts)))


def test_gpt_keeps_room_for_backup_header() -> None:
    layout = DiskLayout("image0", 64 * MiB, "gpt", (Partition("a", 1, MiB, 63 * MiB, "8300"),))
    with pytest.raises(DiskError, match="outside the usable area"):
        check_layout(layout)


def test_split_tree_moves_and_restores(tmp_path: Path) -> None:
    tree = tmp_path / "root"
    make_tree(tree)
    before = snapshot(tree)
    with split_tree(tree, ["/", "/boot", "/boot/efi", "/srv/data"]) as sources:
        assert sources["/"] == tree
        assert list((tree / "boot").iterdir()) == []
        assert sorted(p.name for p in sources["/boot"].iterdir()) == ["efi", "vmlinuz-1.0"]
        assert list((sources["/boot"] / "efi").iterdir()) == []
        assert (sources["/boot/efi"] / "EFI/BOOT/hello.txt").is_file()
        assert (tree / "srv/data").is_dir()  # made for the split: the root fs has it
        assert list(sources["/srv/data"].iterdir()) == []
        # The stand-ins look like the originals.
        assert stat.S_IMODE((tree / "tmp").stat().st_mode) == 0o1777
    assert snapshot(tree) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["root"]


def test_split_tree_restores_after_an_error(tmp_path: Path) -> None:
    tree = tmp_path / "root"
    make_tree(tree)
    before = snapshot(tree)
    with pytest.raises(RuntimeError, match="boom"), split_tree(tree, ["/", "/boot/efi"]):
        raise RuntimeError("boom")
    assert snapshot(tree) == before


def test_split_tree_refuses_symlinked_mount_point(tmp_path: Path) -> None:
    tree = tmp_path / "root"
    make_tree(tree)
    os.symlink("boot", tree / "bootlink")
    before = snapshot(tree)
    with pytest.raises(DiskError, match="symlink"), split_tree(tree, ["/", "/bootlink/efi"]):
        pass
    assert snapshot(tree) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["root"]


# ----------------------------------------------------------------------------- real images


def test_mbr_disk_holds_the_tree(tmp_path: Path) -> None:
    tree = tmp_path / "root"
    make_tree(tree)
    before = snapshot(tree)
    image = tmp_path / "disk.raw"
    layout = mbr_layout(fs=root_fs(mkfs_options=("-i", "4096", "-E", "lazy_itable_init=1")))
    runner = RecordingRunner()
    assemble_disk(layout, tree, image, runner)

    assert snapshot(tree) == before
    assert image.stat().st_size == 64 * MiB
    table = partitions(image)
    assert table["label"] == "dos"
    assert table["id"] == "0x1a2b3c4d"
    assert table["partitions"] == [
        {"node": f"{image}1", "start": 2048, "size": 129024, "type": "83", "bootable": True}
    ]
    part = extract(image, layout.partitions[0], tmp_path / "root.ext4")
    fsck(part)
    info = subprocess.run(["dumpe2fs", "-h", str(part)], capture_output=True, text=True).stdout
    assert field(info, "Filesystem volume name") == "cloudimg-rootfs"
    assert field(info, "Filesystem UUID") == ROOT_UUID
    tool = debugfs(part, "stat /usr/bin/tool")
    assert field(tool, "Mode") == "04751"
    assert field(debugfs(part, "stat /usr/bin/tool-link"), "Inode") == field(tool, "Inode")
    assert field(tool, "Links") == "2"
    assert "kept" in debugfs(part, "ea_get /usr/bin/tool user.dibpy")
    assert 'Fast link dest: "/usr/bin/tool"' in debugfs(part, "stat /usr/bin/tool-symlink")
    assert field(debugfs(part, "stat /tmp"), "Mode") == "01777"
    assert debugfs(part, "cat /boot/efi/EFI/BOOT/hello.txt") == "from the ESP\n"
    # debugfs reads straight from the disk image too, at the partition's offset.
    assert debugfs(Path(f"{image}?offset={MiB}"), "cat /etc/hostname") == "synthetic\n"
    # no loop device, no mount, no chroot was used; nothing is left mounted
    used = {argv[0] for argv in runner.commands}
    assert used <= {"sfdisk", "mke2fs", "debugfs", "mkfs.vfat", "mcopy", "mkswap"}
    assert not mounts_below(tmp_path)
    loops = subprocess.run(["losetup", "-j", str(image)], capture_output=True, text=True)
    assert loops.stdout == ""


@pytest.mark.skipif(not IS_ROOT, reason="owners and device nodes need root to create")
def test_owners_and_device_nodes_survive(tmp_path: Path) -> None:
    tree = tmp_path / "root"
    make_tree(tree)
    image = tmp_path / "disk.raw"
    layout = mbr_layout()
    assemble_disk(layout, tree, image, Runner())
    part = extract(image, layout.partitions[0], tmp_path / "root.ext4")
    tool = debugfs(part, "stat /usr/bin/tool")
    assert (field(tool, "User"), field(tool, "Group"), field(tool, "Mode")) == (
        "1234",
        "5678",
        "04751",
    )
    link = debugfs(part, "stat /usr/bin/tool-symlink")
    assert (field(link, "User"), field(link, "Group")) == ("42", "43")
    null = debugfs(part, "stat /dev/null")
    assert "Type: character special" in null
    assert re.search(r"Device major/minor number: 0*1:0*3", null), null


def test_gpt_disk_splits_tree_by_mount_point(tmp_path: Path) -> None:
    tree = tmp_path / "root"
    make_tree(tree)
    before = snapshot(tree)
    image = tmp_path / "disk.raw"
    layout = efi_layout()
    assemble_disk(layout, tree, image, Runner())
    assert snapshot(tree) == before

    table = partitions(image)
    assert table["label"] == "gpt"
    assert table["id"] == DISK_GUID.upper()
    rows = table["partitions"]
    assert isinstance(rows, list)
    assert [(r["start"], r["size"], r["type"], r["name"]) for r in rows] == [
        (2048, 32768, "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "ESP"),
        (34816, 16384, "21686148-6449-6E6F-744E-656564454649", "BSP"),
        (51200, 32768, "0FC63DAF-8483-4772-8E79-3D69D8477DE4", "boot"),
        (83968, 110592, "0FC63DAF-8483-4772-8E79-3D69D8477DE4", "root"),
    ]
    esp, _bsp, boot, root = layout.partitions
    root_img = extract(image, root, tmp_path / "root.ext4")
    boot_img = extract(image, boot, tmp_path / "boot.ext4")
    fsck(root_img)
    fsck(boot_img)
    # the root file system has an empty /boot; /boot has the kernel and an empty efi/
    assert names(root_img, "/boot") == set()
    assert {"etc", "usr", "boot", "tmp"} <= names(root_img, "/")
    assert names(boot_img, "/") == {"vmlinuz-1.0", "efi", "lost+found"}
    assert names(boot_img, "/efi") == set()
    assert field(debugfs(boot_img, "stat /"), "Mode") == "0750"  # the mount point's mode
    assert field(debugfs(root_img, "stat /boot"), "Mode") == "0750"
    # the ESP holds its files, with the label and volume id asked for
    listing = mtools("mdir", image, esp.start, "-b", "::/EFI/BOOT")
    assert "HELLO.TXT" in listing.upper()
    assert mtools("mtype", image, esp.start, "::/EFI/BOOT/hello.txt") == "from the ESP\n"
    info = mtools("minfo", image, esp.start)
    assert 'disk label="MKFS_ESP   "' in info
    assert "serial number: 1A2B3C4D" in info


def test_image_is_sparse(tmp_path: Path) -> None:
    tree = tmp_path / "root"
    make_tree(tree)
    image = tmp_path / "disk.raw"
    size = 1024 * MiB
    layout = DiskLayout(
        "image0",
        size,
        "gpt",
        (
            Partition("ESP", 1, MiB, 256 * MiB, "EF00", False, esp_fs()),
            Partition("root", 2, 257 * MiB, size - 258 * MiB, "8300", False, root_fs()),
        ),
    )
    assemble_disk(layout, tree, image, Runner())
    used = image.stat().st_blocks * 512
    assert image.stat().st_size == size
    assert used < size // 20, f"{used} bytes allocated for a {size}-byte disk"


def test_whole_disk_filesystem(tmp_path: Path) -> None:
    tree = tmp_path / "root"
    make_tree(tree)
    image = tmp_path / "disk.raw"
    layout = DiskLayout("image0", 32 * MiB, None, whole_disk_filesystem=root_fs())
    assemble_disk(layout, tree, image, Runner())
    fsck(image)
    assert debugfs(image, "cat /etc/hostname") == "synthetic\n"


@pytest.mark.parametrize("where", ["root", "esp"])
def test_too_big_tree_fails_cleanly(tmp_path: Path, where: str) -> None:
    tree = tmp_path / "root"
    make_tree(tree)
    big = tree / ("boot/efi/big.bin" if where == "esp" else "var/big.bin")
    big.parent.mkdir(parents=True, exist_ok=True)
    big.write_bytes(os.urandom(20 * MiB))
    before = snapshot(tree)
    image = tmp_path / "out" / "disk.raw"
    root_size = 64 * MiB if where == "esp" else 12 * MiB
    layout = DiskLayout(
        "image0",
        96 * MiB,
        "gpt",
        (
            Partition("root", 1, MiB, root_size, "8300", False, root_fs()),
            Partition("ESP", 2, MiB + root_size, 8 * MiB, "EF00", False, esp_fs()),
        ),
    )
    with pytest.raises(DiskError) as caught:
        assemble_disk(layout, tree, image, Runner())
    message = str(caught.value)
    assert ("too big" in message) if where == "root" else ("do not fit" in message)
    assert not image.exists()
    assert list(image.parent.iterdir()) == []  # no scratch files left either
    assert snapshot(tree) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "root"]


def test_unsupported_filesystem_is_a_clear_error(tmp_path: Path) -> None:
    tree = tmp_path / "root"
    make_tree(tree)
    layout = mbr_layout(fs=Filesystem("btrfs", "root", ROOT_UUID, "/"))
    with pytest.raises(DiskError, match="btrfs file system type is not supported"):
        assemble_disk(layout, tree, tmp_path / "disk.raw", Runner())
    assert not (tmp_path / "disk.raw").exists()


def test_offset_cannot_be_overridden(tmp_path: Path) -> None:
    tree = tmp_path / "root"
    make_tree(tree)
    layout = mbr_layout(fs=root_fs(mkfs_options=("-E", "offset=0")))
    with pytest.raises(DiskError, match="do not set -E offset"):
        assemble_disk(layout, tree, tmp_path / "disk.raw", Runner())


def test_swap_partition(tmp_path: Path) -> None:
    tree = tmp_path / "root"
    make_tree(tree)
    image = tmp_path / "disk.raw"
    swap_uuid = "9a4b6a8e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
    layout = DiskLayout(
        "image0",
        64 * MiB,
        "mbr",
        (
            Partition("root", 1, MiB, 40 * MiB, "0x83", True, root_fs()),
            Partition(
                "swap",
                2,
                41 * MiB,
                16 * MiB,
                "0x82",
                False,
                Filesystem("swap", "swap", swap_uuid, None),
            ),
        ),
    )
    assemble_disk(layout, tree, image, Runner())
    probe = subprocess.run(
        ["blkid", "-p", "-O", str(41 * MiB), "-o", "export", str(image)],
        capture_output=True,
        text=True,
    ).stdout
    assert "TYPE=swap" in probe
    assert f"UUID={swap_uuid}" in probe


def test_vfat_volume_id_must_be_written_as_blkid_shows_it(tmp_path: Path) -> None:
    tree = tmp_path / "root"
    make_tree(tree)
    layout = DiskLayout(
        "image0",
        64 * MiB,
        "gpt",
        (
            Partition(
                "ESP",
                1,
                MiB,
                32 * MiB,
                "EF00",
                False,
                Filesystem("vfat", "ESP", "1A2B3C4D", "/boot/efi"),
            ),
        ),
    )
    with pytest.raises(DiskError, match="like 1A2B-3C4D"):
        assemble_disk(layout, tree, tmp_path / "disk.raw", Runner())
    assert not (tmp_path / "disk.raw").exists()


def test_partition_types_and_has_esp_on_raw_and_qcow2(tmp_path: Path) -> None:
    tree = tmp_path / "root"
    make_tree(tree)
    efi = tmp_path / "efi.raw"
    assemble_disk(efi_layout(), tree, efi, Runner())
    assert partition_types(efi) == [
        "C12A7328-F81F-11D2-BA4B-00A0C93EC93B",
        "21686148-6449-6E6F-744E-656564454649",
        "0FC63DAF-8483-4772-8E79-3D69D8477DE4",
        "0FC63DAF-8483-4772-8E79-3D69D8477DE4",
    ]
    assert has_esp(efi)
    qcow2 = tmp_path / "efi.qcow2"
    subprocess.run(
        ["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(efi), str(qcow2)], check=True
    )
    assert has_esp(qcow2)
    mbr = tmp_path / "mbr.raw"
    assemble_disk(mbr_layout(), tree, mbr, Runner())
    assert partition_types(mbr) == ["0x83"]
    assert not has_esp(mbr)
    blank = tmp_path / "blank.raw"
    blank.write_bytes(bytes(MiB))
    assert partition_types(blank) == []


def test_logical_partitions_in_an_extended_one(tmp_path: Path) -> None:
    """DIB's MBR shape for partitions without the primary flag: root primary, then /boot and
    /var logical (5, 6) in an extended partition (2, type 0x0f) to the end of the disk."""
    tree = tmp_path / "root"
    make_tree(tree)
    (tree / "var/lib").mkdir(parents=True)
    (tree / "var/lib/state").write_text("on the logical partition\n")
    size = 96 * MiB
    boot = Filesystem("ext4", "boot", BOOT_UUID, "/boot")
    var = Filesystem("ext4", "var", "7c3d2e1f-0a9b-4c8d-8e7f-6a5b4c3d2e1f", "/var")
    layout = DiskLayout(
        "image0",
        size,
        "mbr",
        (
            Partition("root", 1, MiB, 48 * MiB, "0x83", True, root_fs()),
            Partition("boot", 5, 50 * MiB, 16 * MiB, "0x83", False, boot),
            Partition("var", 6, 67 * MiB, 28 * MiB, "0x83", False, var),
        ),
        disk_id="0x1a2b3c4d",
        extended_start=49 * MiB,
    )
    image = tmp_path / "disk.raw"
    assemble_disk(layout, tree, image, Runner())
    found = [(p["node"], p["start"], p["size"], p["type"]) for p in partitions(image)["partitions"]]
    assert found == [
        (f"{image}1", 2048, 98304, "83"),
        (f"{image}2", 100352, 96256, "f"),
        (f"{image}5", 102400, 32768, "83"),
        (f"{image}6", 137216, 57344, "83"),
    ]
    for part in layout.partitions:
        fsck(extract(image, part, tmp_path / f"{part.name}.ext4"))
    assert debugfs(tmp_path / "var.ext4", "cat /lib/state") == "on the logical partition\n"
    assert debugfs(tmp_path / "boot.ext4", "cat /efi/EFI/BOOT/hello.txt") == "from the ESP\n"
    assert "var" in names(tmp_path / "root.ext4", "/")  # the mount point, empty
