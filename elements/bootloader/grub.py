"""GRUB for disk images made without a loop device: what ``grub-install`` would write.

DIB runs ``grub-install`` inside the mounted image against the loop device. dibpy has no
loop device (see ``dibpy.blockdev.disk``), so it writes GRUB's pieces itself:

* **The config.** ``/boot/grub/grub.cfg`` in the tree, written by ``grub_cfg``: root named by
  UUID, one menu entry per kernel in ``/boot`` (newest first), the serial console on, plus
  ``/etc/default/grub`` edited the way DIB's ``finalise.d/50-bootloader`` does, so that an
  ``update-grub`` run later inside the machine keeps the same console and timeout.
* **BIOS** (MBR disks, and GPT disks with a BIOS boot partition, EF02). Before the file
  systems are made, ``prepare_bios`` copies the tree's own GRUB modules
  (``/usr/lib/grub/i386-pc``) to ``/boot/grub/i386-pc`` (as grub-install does; ``normal``,
  ``linux`` and the rest are loaded from there) and builds ``core.img`` with the tree's own
  ``grub-mkimage`` (in a chroot, which needs no /proc: the image's GRUB is what boots, so its
  kernel and modules must agree; without root the host's ``grub-mkimage`` is pointed at the
  tree's module directory with ``-d``). The prefix ``(,msdosN)/boot/grub`` / ``(,gptN)/boot/grub``
  names the partition holding ``/boot`` on *the disk GRUB was booted from* (an empty drive
  name means the boot drive; this is the form grub-install uses), so the image boots whatever
  number the firmware gives the disk. After the disk is assembled, ``write_bios_boot``
  puts ``boot.img`` over bytes 0-439 of the MBR (the disk signature, partition table and
  0x55AA at 440-511 are kept, like the BPB area 0x03-0x59; the boot-drive check at
  0x66-0x67 becomes two NOPs, and the 8-byte sector of core.img goes at 0x5C) and
  ``core.img`` either in the gap after the MBR (sector 1 on; an MBR disk) or at the start of
  the BIOS boot partition (GPT). The block list at the end of core.img's first sector
  (diskboot.img: start u64, sector count u16, segment u16) is set to the sector after
  core.img's first one; grub-mkimage already fills in the count and segment.
* **UEFI** (an ESP mounted at ``/boot/efi``): ``install_efi`` puts the files in the tree's
  ``/boot/efi`` before the disk is assembled, so they land on the ESP: the removable-media
  path ``EFI/BOOT/BOOTX64.EFI`` is the distribution's signed shim with the signed GRUB next
  to it as ``grubx64.efi`` (and MokManager); that GRUB reads ``grub.cfg`` from its built-in
  prefix (``/EFI/debian`` on Debian, ``/EFI/ubuntu`` on Ubuntu), where a three-line config
  finds the root file system by UUID and loads ``/boot/grub/grub.cfg``. Without shim or a
  signed GRUB in the tree, ``grub-mkimage -O x86_64-efi`` builds ``BOOTX64.EFI`` from the
  tree's modules with that small config embedded.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from dibpy import BuildError
from dibpy.author import (
    BIOS_BOOT_GUID,
    ESP_GUID,
    SECTOR,
    DiskLayout,
    Filesystem,
    Partition,
    Runner,
    gpt_type_guid,
    in_root,
    install_file,
    make_dir,
    remove_file,
    write_file,
)

log = logging.getLogger("dibpy.elements.bootloader")

SERIAL_COMMAND = "serial --speed=115200 --unit=0 --word=8 --parity=no --stop=1"
DEFAULT_CMDLINE = "nofb nomodeset gfxpayload=text"
DEFAULT_SERIAL_CONSOLE = "ttyS0,115200"

# boot.img (GRUB's include/grub/i386/pc/boot.h)
BPB_START = 0x03
BPB_END = 0x5A
KERNEL_SECTOR = 0x5C
DRIVE_CHECK = 0x66
PART_START = 0x1B8  # disk signature (440), then the partition table
PART_END = 0x1FE
# diskboot.img: the first block list entry is the last 12 bytes of core.img's first sector
BLOCKLIST = SECTOR - 12
BLOCKLIST_FORMAT = "<QHH"  # start sector, sector count, load segment
CORE_SEGMENT = 0x820

GRUB_PACKAGES = {
    "i386-pc": "grub-pc-bin",
    "x86_64-efi": "grub-efi-amd64-bin",
    "arm64-efi": "grub-efi-arm64-bin",
}
BIOS_MODULES = ("biosdisk", "part_msdos", "part_gpt")
EFI_MODULES = (
    "part_gpt",
    "part_msdos",
    "fat",
    "ext2",
    "search",
    "search_fs_uuid",
    "search_label",
    "configfile",
    "normal",
    "linux",
    "echo",
    "test",
    "gzio",
    "all_video",
    "efi_gop",
    "serial",
    "terminal",
    "ls",
    "cat",
    "reboot",
    "halt",
    "sleep",
    "boot",
)
FS_MODULES = {
    "ext2": "ext2",
    "ext3": "ext2",
    "ext4": "ext2",
    "xfs": "xfs",
    "btrfs": "btrfs",
    "vfat": "fat",
    "fat": "fat",
    "fat32": "fat",
}


class BootloaderError(BuildError):
    """GRUB could not be set up for the image; the message says what is missing."""


# ------------------------------------------------------------------------------------ options


def _flag(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class GrubOptions:
    """The bootloader element's knobs (DIB's variable names in brackets)."""

    cmdline: str = DEFAULT_CMDLINE  # DIB_BOOTLOADER_DEFAULT_CMDLINE
    timeout: int = 5  # DIB_GRUB_TIMEOUT (alias DIB_BOOTLOADER_TIMEOUT)
    timeout_style: str = "menu"  # DIB_GRUB_TIMEOUT_STYLE
    serial_console: str = DEFAULT_SERIAL_CONSOLE  # DIB_BOOTLOADER_SERIAL_CONSOLE
    virtual_terminal: str = "tty0"  # DIB_BOOTLOADER_VIRTUAL_TERMINAL ('' keeps none)
    use_serial_console: bool = True  # DIB_BOOTLOADER_USE_SERIAL_CONSOLE
    no_timer_check: bool = True  # DIB_NO_TIMER_CHECK
    distributor: str = "GNU/Linux"

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> GrubOptions:
        timeout_text = env.get("DIB_GRUB_TIMEOUT") or env.get("DIB_BOOTLOADER_TIMEOUT") or "5"
        try:
            timeout = int(timeout_text)
        except ValueError as exc:
            raise BootloaderError(
                f"DIB_GRUB_TIMEOUT must be a whole number of seconds, not {timeout_text!r}."
            ) from exc
        return cls(
            cmdline=env.get("DIB_BOOTLOADER_DEFAULT_CMDLINE", DEFAULT_CMDLINE),
            timeout=timeout,
            timeout_style=env.get("DIB_GRUB_TIMEOUT_STYLE") or "menu",
            serial_console=env.get("DIB_BOOTLOADER_SERIAL_CONSOLE") or DEFAULT_SERIAL_CONSOLE,
            virtual_terminal=env.get("DIB_BOOTLOADER_VIRTUAL_TERMINAL", "tty0"),
            use_serial_console=_flag(env.get("DIB_BOOTLOADER_USE_SERIAL_CONSOLE", "True")),
            no_timer_check=_flag(env.get("DIB_NO_TIMER_CHECK", "True")),
        )

    def console_args(self) -> str:
        """``console=tty0 console=ttyS0,115200 no_timer_check``, as DIB orders them."""
        args = []
        if self.virtual_terminal:
            args.append(f"console={self.virtual_terminal}")
        if self.use_serial_console and self.serial_console:
            args.append(f"console={self.serial_console}")
        if self.no_timer_check:
            args.append("no_timer_check")
        return " ".join(args)

    def kernel_args(self, extra: str = "") -> str:
        """Everything after ``root=... ro`` (DIB's GRUB_CMDLINE_LINUX_DEFAULT)."""
        return " ".join(a for a in (self.console_args(), self.cmdline, extra) if a)


DEFAULT_OPTIONS = GrubOptions()


# ------------------------------------------------------------------------------ kernels, cfg


@dataclass(frozen=True)
class Kernel:
    version: str
    kernel: str  # file name in the boot directory
    initrd: str | None


def _version_key(version: str) -> list[tuple[int, int | str]]:
    return [(0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", version) if p]


def find_kernels(boot_dir: Path) -> list[Kernel]:
    """``vmlinuz-VERSION`` (with ``initrd.img-VERSION`` if present), newest first."""
    found = []
    if boot_dir.is_dir():
        for path in boot_dir.glob("vmlinuz-*"):
            if not path.is_file() or path.name.endswith((".dpkg-bak", ".dpkg-new", ".old")):
                continue
            version = path.name.removeprefix("vmlinuz-")
            initrd = boot_dir / f"initrd.img-{version}"
            found.append(Kernel(version, path.name, initrd.name if initrd.is_file() else None))
    return sorted(found, key=lambda k: _version_key(k.version), reverse=True)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def grub_cfg(
    *,
    root_uuid: str,
    kernels: Sequence[Kernel],
    options: GrubOptions = DEFAULT_OPTIONS,
    boot_uuid: str | None = None,
    boot_prefix: str = "/boot",
    extra_cmdline: str = "",
) -> str:
    """A grub.cfg booting ``kernels`` with root=UUID=``root_uuid``.

    ``boot_uuid``/``boot_prefix``: the file system holding the kernels and where they are in
    it (``/boot`` on the root file system; ``""`` when /boot is a file system of its own).
    """
    if not kernels:
        raise BootloaderError(
            "No kernel found in the tree's /boot (vmlinuz-VERSION); the image would not boot. "
            "Install a kernel package (linux-image-amd64, linux-image-generic, ...) first."
        )
    search_uuid = boot_uuid or root_uuid
    args = f"root=UUID={root_uuid} ro {options.kernel_args(extra_cmdline)}".strip()
    lines = [
        "# Written by dibpy. Regenerate with update-grub (settings: /etc/default/grub).",
        "set default=0",
        f"set timeout={options.timeout}",
        f"set timeout_style={options.timeout_style}",
        "insmod part_msdos",
        "insmod part_gpt",
        "insmod ext2",
    ]
    if options.use_serial_console:
        lines += [SERIAL_COMMAND, "terminal_input serial console", "terminal_output serial console"]
    lines += [f"search --no-floppy --fs-uuid --set=root {search_uuid}", ""]
    for kernel in kernels:
        title = f"{options.distributor}, with Linux {kernel.version}"
        lines.append(f"menuentry {_quote(title)} --class gnu-linux --class gnu --class os {{")
        lines += [
            "\tinsmod gzio",
            f"\tsearch --no-floppy --fs-uuid --set=root {search_uuid}",
            f"\techo {_quote('Loading Linux ' + kernel.version + ' ...')}",
            f"\tlinux {boot_prefix}/{kernel.kernel} {args}",
        ]
        if kernel.initrd:
            lines += [
                f"\techo {_quote('Loading initial ramdisk ...')}",
                f"\tinitrd {boot_prefix}/{kernel.initrd}",
            ]
        lines += ["}", ""]
    return "\n".join(lines)


DEFAULT_GRUB_HEADER = """\
# If you change this file, run 'update-grub' afterwards to update
# /boot/grub/grub.cfg.
# For full documentation of the options in this file, see:
#   info -f grub -n 'Simple configuration'

GRUB_DEFAULT=0
GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`
GRUB_CMDLINE_LINUX=""
"""


def default_grub_text(
    existing: str | None,
    options: GrubOptions,
    *,
    root_device: str,
    extra_cmdline: str = "",
) -> str:
    """``/etc/default/grub`` after DIB's 50-bootloader edits (see ``write_default_grub``)."""
    lines = (existing if existing is not None else DEFAULT_GRUB_HEADER).splitlines()
    # DIB: strip console= (and boot=) arguments from the existing command lines.
    cleaned = []
    for line in lines:
        if re.match(r"\s*GRUB_CMDLINE_LINUX", line):
            line = re.sub(r"\s*\bconsole=[^\s\"']*", "", line)
            line = re.sub(r"\s*\bboot=[^\s\"']*", "", line)
            line = re.sub(r"=([\"'])\s+", r"=\1", line)
        cleaned.append(line)
    settings = {
        "GRUB_DEVICE": root_device,
        "GRUB_DISABLE_LINUX_UUID": "true",
        "GRUB_TIMEOUT": str(options.timeout),
        "GRUB_TIMEOUT_STYLE": options.timeout_style,
        "GRUB_TERMINAL": '"serial console"' if options.use_serial_console else '"console"',
        "GRUB_GFXPAYLOAD_LINUX": "auto",
        "GRUB_CMDLINE_LINUX_DEFAULT": f'"{options.kernel_args(extra_cmdline)}"',
    }
    if options.use_serial_console:
        settings["GRUB_SERIAL_COMMAND"] = f'"{SERIAL_COMMAND}"'
    result: list[str] = []
    for line in cleaned:
        match = re.match(r"\s*([A-Z_]+)=", line)
        if match and match.group(1) in settings:
            key = match.group(1)
            value = settings.pop(key, None)
            if value is None:
                continue  # a second assignment of a key already set: drop it
            result.append(f"{key}={value}")
        else:
            result.append(line)
    if settings:
        result.append("# Set by dibpy (DIB's bootloader element)")
        result += [f"{key}={value}" for key, value in settings.items()]
    return "\n".join(result) + "\n"


def write_default_grub(
    tree: Path,
    options: GrubOptions = DEFAULT_OPTIONS,
    *,
    root_device: str,
    extra_cmdline: str = "",
) -> Path:
    """Edit (or create) the tree's ``/etc/default/grub`` as DIB's 50-bootloader does.

    Sets GRUB_DEVICE (``root_device``, e.g. ``UUID=...`` or ``LABEL=cloudimg-rootfs``),
    GRUB_DISABLE_LINUX_UUID, GRUB_TIMEOUT(_STYLE), GRUB_TERMINAL, GRUB_SERIAL_COMMAND,
    GRUB_GFXPAYLOAD_LINUX and GRUB_CMDLINE_LINUX_DEFAULT (console args first); console= and
    boot= arguments already there are removed; each key is set once, in place.
    """
    path = in_root(tree, "/etc/default/grub")
    existing = path.read_text() if path.is_file() else None
    text = default_grub_text(
        existing, options, root_device=root_device, extra_cmdline=extra_cmdline
    )
    return write_file(tree, "/etc/default/grub", text)


# --------------------------------------------------------------------------- layout helpers


def boot_filesystem(layout: DiskLayout) -> tuple[Filesystem, str]:
    """The file system holding ``/boot`` and the path of /boot inside it."""
    for fs in layout.filesystems:
        if fs.mount_point == "/boot":
            return fs, ""
    return layout.root, "/boot"


def _partition_of(layout: DiskLayout, fs: Filesystem) -> Partition:
    part = layout.partition_of(fs)
    if part is None:
        raise BootloaderError(
            f"Disk {layout.name} has no partition table: GRUB for BIOS needs one (boot.img "
            "and core.img live outside the file systems)."
        )
    return part


def grub_prefix(layout: DiskLayout) -> str:
    """``(,msdos1)/boot/grub``: the boot disk's partition holding /boot, then the path."""
    fs, inside = boot_filesystem(layout)
    part = _partition_of(layout, fs)
    table = "msdos" if layout.table == "mbr" else "gpt"
    return f"(,{table}{part.number}){inside}/grub"


def write_grub_cfg(
    tree: Path, layout: DiskLayout, options: GrubOptions = DEFAULT_OPTIONS, extra_cmdline: str = ""
) -> Path:
    """Write ``/boot/grub/grub.cfg`` in the tree for ``layout`` (root and /boot by UUID)."""
    root = layout.root
    boot_fs, inside = boot_filesystem(layout)
    text = grub_cfg(
        root_uuid=root.uuid,
        kernels=find_kernels(in_root(tree, "/boot")),
        options=options,
        boot_uuid=boot_fs.uuid,
        boot_prefix=inside,
        extra_cmdline=extra_cmdline,
    )
    _write_grubenv(tree)
    return write_file(tree, "/boot/grub/grub.cfg", text)


def _write_grubenv(tree: Path) -> None:
    """An empty GRUB environment block, as grub-install leaves (grub-reboot needs it)."""
    link = in_root(tree, "/boot/grub/grubenv", follow_final=False)
    path = in_root(tree, "/boot/grub/grubenv")
    if link.is_symlink() and not path.exists():
        link.unlink()  # DIB removes a dangling grubenv symlink
    if not path.exists():
        header = "# GRUB Environment Block\n"
        write_file(tree, "/boot/grub/grubenv", header + "#" * (1024 - len(header)))


# ------------------------------------------------------------------------------------- BIOS


@dataclass(frozen=True)
class BiosBoot:
    """What ``write_bios_boot`` writes onto the assembled disk."""

    boot_img: bytes  # 512 bytes
    core_img: bytes  # padded to whole sectors


def _grub_mkimage(
    tree: Path,
    runner: Runner,
    platform: str,
    output: str,
    prefix: str,
    modules: Sequence[str],
    config: str | None = None,
) -> None:
    """Run the tree's grub-mkimage in a chroot (as root), else the host's with ``-d``.

    ``output`` and ``config`` are paths as seen inside the tree.
    """
    module_dir = f"/usr/lib/grub/{platform}"
    if not in_root(tree, f"{module_dir}/kernel.img").is_file():
        raise BootloaderError(
            f"The tree has no GRUB for {platform} ({module_dir}/kernel.img is missing). "
            f"Install {GRUB_PACKAGES.get(platform, 'GRUB')} in "
            "the image (the bootloader element's package list)."
        )
    tail = ["-O", platform, "-p", prefix]
    own = in_root(tree, "/usr/bin/grub-mkimage")
    if os.geteuid() == 0 and own.is_file():
        argv = ["chroot", str(tree), "grub-mkimage", "-d", module_dir, *tail, "-o", output]
        if config:
            argv += ["-c", config]
    else:
        host = shutil.which("grub-mkimage")
        if host is None:
            raise BootloaderError(
                "Building GRUB's core image needs grub-mkimage: run as root so the image's own "
                "one can be used, or install grub-common on the build host."
            )
        # The host's grub-mkimage opens these paths itself: resolve them inside the tree,
        # and put no symlink where it writes.
        remove_file(tree, output)
        argv = [
            host,
            "-d",
            str(in_root(tree, module_dir)),
            *tail,
            "-o",
            str(in_root(tree, output)),
        ]
        if config:
            argv += ["-c", str(in_root(tree, config))]
    runner.run([*argv, *modules])


def _copy_modules(tree: Path, platform: str) -> None:
    """Copy the platform's modules to /boot/grub/PLATFORM, as grub-install does (both
    paths resolved inside the tree; a file or symlink there is replaced, not written
    through)."""
    source = f"/usr/lib/grub/{platform}"
    for item in sorted(in_root(tree, source).iterdir()):
        if item.suffix not in (".mod", ".lst", ".o", ".img", ".sh"):
            continue
        real = in_root(tree, f"{source}/{item.name}")
        if real.is_file():
            copied = install_file(tree, real, f"/boot/grub/{platform}/{item.name}")
            st = real.stat()
            os.utime(copied, ns=(st.st_atime_ns, st.st_mtime_ns))  # as cp -p does


def prepare_bios(
    tree: Path, layout: DiskLayout, runner: Runner, options: GrubOptions = DEFAULT_OPTIONS
) -> BiosBoot:
    """Before the disk is assembled: modules, grub.cfg and core.img in the tree's /boot/grub.

    Returns the boot.img and core.img that ``write_bios_boot`` writes onto the disk.
    """
    if layout.table is None:
        raise BootloaderError(
            f"Disk {layout.name} is one file system without a partition table; GRUB for BIOS "
            "needs a partitioned disk (mbr, or gpt with a BIOS boot partition)."
        )
    _require_bios_boot_partition(layout)  # fails early on a GPT disk without one
    boot_fs, _ = boot_filesystem(layout)
    fs_module = FS_MODULES.get(boot_fs.fstype)
    if fs_module is None:
        raise BootloaderError(f"GRUB cannot read /boot from a {boot_fs.fstype} file system.")
    _copy_modules(tree, "i386-pc")
    write_grub_cfg(tree, layout, options)
    _grub_mkimage(
        tree,
        runner,
        "i386-pc",
        "/boot/grub/i386-pc/core.img",
        grub_prefix(layout),
        [*BIOS_MODULES, fs_module],
    )
    core = in_root(tree, "/boot/grub/i386-pc/core.img").read_bytes()
    boot = in_root(tree, "/boot/grub/i386-pc/boot.img").read_bytes()
    if len(boot) != SECTOR:
        raise BootloaderError(f"GRUB's boot.img in the tree is {len(boot)} bytes, not 512.")
    padded = core + bytes(-len(core) % SECTOR)
    return BiosBoot(boot_img=boot, core_img=padded)


def bios_boot_partition(layout: DiskLayout) -> Partition | None:
    """The GPT BIOS boot partition (EF02), or None (an MBR disk, or a GPT disk without)."""
    if layout.table != "gpt":
        return None
    for part in layout.partitions:
        if _is_type(part, BIOS_BOOT_GUID):
            return part
    return None


def _require_bios_boot_partition(layout: DiskLayout) -> Partition | None:
    """Like ``bios_boot_partition``, but a GPT disk without one is an error."""
    part = bios_boot_partition(layout)
    if layout.table == "gpt" and part is None:
        raise BootloaderError(
            f"GPT disk {layout.name} has no BIOS boot partition (type EF02), where GRUB's "
            "core.img goes for a BIOS boot. Add one (block-device-gpt has an 8 MiB one) or "
            "boot with UEFI."
        )
    return part


def _is_type(part: Partition, guid: str) -> bool:
    try:
        return gpt_type_guid(part.type_code) == guid
    except BuildError:
        return False


def core_img_sector(layout: DiskLayout, core_size: int) -> int:
    """The first sector of core.img on the disk, after checking that it fits there."""
    bsp = _require_bios_boot_partition(layout)
    if bsp is not None:
        start, room, where = bsp.start // SECTOR, bsp.size, f"BIOS boot partition {bsp.number}"
    else:
        first = min((p.start for p in layout.partitions), default=layout.size)
        start, room, where = 1, first - SECTOR, "the gap between the MBR and the first partition"
    if core_size > room:
        raise BootloaderError(
            f"GRUB's core.img ({core_size} bytes) does not fit in {where} ({room} bytes) of "
            f"disk {layout.name}; start the first partition at 1 MiB or grow the partition."
        )
    return start


def patch_core_img(core: bytes, sector: int) -> bytes:
    """Point core.img's first block list entry at the sectors after its first one."""
    if len(core) < 2 * SECTOR or len(core) % SECTOR:
        raise BootloaderError(f"core.img has an unexpected size ({len(core)} bytes).")
    _start, count, segment = struct.unpack_from(BLOCKLIST_FORMAT, core, BLOCKLIST)
    expected = len(core) // SECTOR - 1
    if count != expected or segment != CORE_SEGMENT:
        raise BootloaderError(
            f"core.img's block list says {count} sectors at segment {segment:#x}, expected "
            f"{expected} at {CORE_SEGMENT:#x}: not a core.img this code understands."
        )
    patched = bytearray(core)
    struct.pack_into(BLOCKLIST_FORMAT, patched, BLOCKLIST, sector + 1, count, segment)
    return bytes(patched)


def patch_boot_img(boot_img: bytes, mbr: bytes, core_sector: int) -> bytes:
    """boot.img made ready for sector 0 of a disk whose current sector 0 is ``mbr``."""
    if len(boot_img) != SECTOR or len(mbr) != SECTOR:
        raise BootloaderError("boot.img and the MBR must both be 512 bytes.")
    sector = bytearray(boot_img)
    sector[BPB_START:BPB_END] = mbr[BPB_START:BPB_END]
    struct.pack_into("<Q", sector, KERNEL_SECTOR, core_sector)
    sector[DRIVE_CHECK : DRIVE_CHECK + 2] = b"\x90\x90"  # use the drive the BIOS booted
    sector[PART_START:SECTOR] = mbr[PART_START:SECTOR]  # signature, table, 0x55AA
    return bytes(sector)


def write_bios_boot(image: Path, layout: DiskLayout, bios: BiosBoot) -> None:
    """After the disk is assembled: boot.img into the MBR, core.img after it or in the BSP."""
    sector = core_img_sector(layout, len(bios.core_img))
    core = patch_core_img(bios.core_img, sector)
    fd = os.open(image, os.O_RDWR)
    try:
        mbr = os.pread(fd, SECTOR, 0)
        if mbr[510:512] != b"\x55\xaa":
            raise BootloaderError(f"{image} has no partition table in its first sector.")
        os.pwrite(fd, core, sector * SECTOR)
        os.pwrite(fd, patch_boot_img(bios.boot_img, mbr, sector), 0)
        os.fsync(fd)
    finally:
        os.close(fd)
    log.info("GRUB for BIOS written to %s (core.img at sector %d)", image, sector)


# -------------------------------------------------------------------------------------- UEFI


def esp_filesystem(layout: DiskLayout) -> Filesystem | None:
    for part in layout.partitions:
        fs = part.filesystem
        if fs is not None and (_is_type(part, ESP_GUID) or part.type_code.lower() == "0xef"):
            return fs
    for fs in layout.filesystems:
        if fs.mount_point == "/boot/efi":
            return fs
    return None


def _efi_stub_cfg(layout: DiskLayout) -> str:
    boot_fs, inside = boot_filesystem(layout)
    return (
        f"search --no-floppy --fs-uuid --set=root {boot_fs.uuid}\n"
        f"set prefix=($root){inside}/grub\n"
        "configfile $prefix/grub.cfg\n"
    )


def _signed_grub_prefix(signed_grub: Path) -> str | None:
    """The ``/EFI/<vendor>`` prefix built into a distribution's signed GRUB."""
    match = re.search(rb"\x00(/EFI/[A-Za-z0-9_.-]+)\x00", signed_grub.read_bytes())
    return match.group(1).decode() if match else None


# dpkg architecture -> (EFI file suffix, GRUB platform, removable-media loader name)
EFI_ARCHES = {
    "amd64": ("x64", "x86_64-efi", "BOOTX64.EFI"),
    "x86_64": ("x64", "x86_64-efi", "BOOTX64.EFI"),
    "arm64": ("aa64", "arm64-efi", "BOOTAA64.EFI"),
    "aarch64": ("aa64", "arm64-efi", "BOOTAA64.EFI"),
}


def install_efi(
    tree: Path,
    layout: DiskLayout,
    runner: Runner,
    options: GrubOptions = DEFAULT_OPTIONS,
    *,
    arch: str = "amd64",
) -> Path:
    """Before the disk is assembled: the UEFI loader files in the tree's ESP directory.

    Returns the host path of the loader written (``EFI/BOOT/BOOTX64.EFI`` on amd64,
    ``BOOTAA64.EFI`` on arm64).
    """
    if arch not in EFI_ARCHES:
        raise BootloaderError(
            f"UEFI boot for {arch} is not supported (supported: {', '.join(EFI_ARCHES)})."
        )
    suffix, platform, loader_name = EFI_ARCHES[arch]
    esp = esp_filesystem(layout)
    if esp is None or esp.mount_point is None:
        raise BootloaderError(
            f"Disk {layout.name} has no EFI system partition mounted at /boot/efi (a vfat "
            "file system on a partition of type EF00); UEFI boot needs one."
        )
    write_grub_cfg(tree, layout, options)
    # Every path is resolved inside the tree; a file or symlink in the way is replaced.
    boot = f"{esp.mount_point.rstrip('/')}/EFI/BOOT"
    stub = _efi_stub_cfg(layout)
    shim = in_root(tree, f"/usr/lib/shim/shim{suffix}.efi.signed")
    signed = in_root(tree, f"/usr/lib/grub/{platform}-signed/grub{suffix}.efi.signed")
    if in_root(tree, f"/usr/lib/grub/{platform}").is_dir():
        _copy_modules(tree, platform)
    if shim.is_file() and signed.is_file():
        # No fallback (fb*.efi): it would try to write boot entries to NVRAM and reboot.
        loader = install_file(tree, shim, f"{boot}/{loader_name}", 0o644)
        install_file(tree, signed, f"{boot}/grub{suffix}.efi", 0o644)
        manager = in_root(tree, f"/usr/lib/shim/mm{suffix}.efi.signed")
        if manager.is_file():
            install_file(tree, manager, f"{boot}/mm{suffix}.efi", 0o644)
        write_file(tree, f"{boot}/grub.cfg", stub)
        prefix = _signed_grub_prefix(signed)
        if prefix:
            vendor = f"{esp.mount_point.rstrip('/')}/{prefix.strip('/')}"
            write_file(tree, f"{vendor}/grub.cfg", stub)
        log.info("UEFI: shim + signed GRUB at EFI/BOOT (GRUB's prefix %s)", prefix)
        return loader
    loader = make_dir(tree, boot) / loader_name
    # No signed loaders: our own GRUB image with the stub config built in.
    config = write_file(tree, f"/boot/grub/{platform}/dibpy-early.cfg", stub)
    try:
        fs_modules = sorted({FS_MODULES.get(fs.fstype, "ext2") for fs in layout.filesystems})
        _grub_mkimage(
            tree,
            runner,
            platform,
            "/" + str(loader.relative_to(tree)),
            "/EFI/BOOT",
            sorted({*EFI_MODULES, *fs_modules}),
            config="/" + str(config.relative_to(tree)),
        )
    finally:
        config.unlink(missing_ok=True)
    write_file(tree, f"{boot}/grub.cfg", stub)
    log.info("UEFI: GRUB built with grub-mkimage at EFI/BOOT/%s", loader_name)
    return loader
