"""The host programs a build will run, checked before anything is made.

A build needs some programs whatever it builds (``chroot``, ``mount``), some for its output
formats (``qemu-img`` for qcow2), some for its disk layout (``mkfs.vfat`` for an ESP), and
some because an element runs them on the host: an element declares those beside its hooks::

    HOST_TOOLS = ["debootstrap"]                 # Debian package looked up in PACKAGES below
    HOST_TOOLS = {"my-tool": "my-debian-package"}

Every missing program is reported at once, with the Debian package that provides it, before
the build directory is created.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Mapping

from dibpy.errors import InputError

# Program -> the Debian (12) package that provides it.
PACKAGES: dict[str, str] = {
    "chroot": "coreutils",
    "cp": "coreutils",
    "rm": "coreutils",
    "mount": "mount",
    "umount": "mount",
    "tar": "tar",
    "gzip": "gzip",
    "xz": "xz-utils",
    "zstd": "zstd",
    "mksquashfs": "squashfs-tools",
    "unsquashfs": "squashfs-tools",
    "qemu-img": "qemu-utils",
    "qemu-system-x86_64": "qemu-system-x86",
    "sfdisk": "fdisk",
    "mke2fs": "e2fsprogs",
    "debugfs": "e2fsprogs",
    "mkfs.vfat": "dosfstools",
    "mcopy": "mtools",
    "mkswap": "util-linux",
    "mkfs.xfs": "xfsprogs",
    "xfs_db": "xfsprogs",
    "debootstrap": "debootstrap",
    "busybox": "busybox-static",
}

CORE = ("chroot", "mount", "umount", "rm")
FORMAT_TOOLS: dict[str, tuple[str, ...]] = {
    "tar": ("tar",),
    "tgz": ("tar", "gzip"),
    "squashfs": ("mksquashfs",),
    "raw": ("cp",),
    "qcow2": ("qemu-img",),
    "vhd": ("qemu-img",),
    "vmdk": ("qemu-img",),
}
FS_TOOLS: dict[str, tuple[str, ...]] = {
    "ext2": ("mke2fs", "debugfs"),
    "ext3": ("mke2fs", "debugfs"),
    "ext4": ("mke2fs", "debugfs"),
    "vfat": ("mkfs.vfat", "mcopy"),
    "fat": ("mkfs.vfat", "mcopy"),
    "fat32": ("mkfs.vfat", "mcopy"),
    "swap": ("mkswap",),
    "xfs": ("mkfs.xfs", "xfs_db"),
}


def declared_tools(element: str, declared: object) -> dict[str, str]:
    """An element's HOST_TOOLS as {program: Debian package}."""
    if isinstance(declared, Mapping):
        items = list(declared.items())
    elif isinstance(declared, (list, tuple)):
        items = [(name, PACKAGES.get(str(name), "")) for name in declared]
    else:
        raise InputError(
            f"Element {element!r}: HOST_TOOLS must be a list of program names or a mapping of "
            'program name to Debian package, e.g. ["debootstrap"] or {"mytool": "mypkg"}.'
        )
    tools = {}
    for name, package in items:
        if not isinstance(name, str) or not name or "/" in name:
            raise InputError(f"Element {element!r}: HOST_TOOLS names {name!r}, not a program.")
        tools[name] = str(package or PACKAGES.get(name, ""))
    return tools


Needed = dict[str, tuple[str, str]]
"""{program: (Debian package or "", why it is needed)}"""


def check(needed: Mapping[str, tuple[str, str]], path: str | None = None) -> None:
    """Raise InputError naming every program of ``needed`` not found on PATH."""
    missing = [tool for tool in needed if shutil.which(tool, path=path) is None]
    if not missing:
        return
    lines = []
    packages: list[str] = []
    for tool in missing:
        package, why = needed[tool]
        if package:
            lines.append(f"{tool} (Debian package {package}; {why})")
            if package not in packages:
                packages.append(package)
        else:
            lines.append(f"{tool} ({why})")
    advice = (
        f"Install them with `apt-get install {' '.join(packages)}`" if packages else "Install them"
    )
    raise InputError(
        f"The build needs {'a program' if len(missing) == 1 else 'programs'} not found on "
        f"PATH: {'; '.join(lines)}. {advice} (or ./scripts/install-host-packages), then run "
        "the build again. Nothing was built."
    )


def needed_for(formats: Iterable[str], fstypes: Iterable[str], partitioned: bool) -> Needed:
    """The core programs and those the outputs and the disk layout need, with why."""
    needed: Needed = {}

    def add(tool: str, why: str) -> None:
        needed.setdefault(tool, (PACKAGES.get(tool, ""), why))

    for tool in CORE:
        add(tool, "every build")
    for fmt in formats:
        for tool in FORMAT_TOOLS.get(fmt, ()):
            add(tool, f"-t {fmt}")
    for fstype in fstypes:
        for tool in FS_TOOLS.get(fstype, ()):
            add(tool, f"the {fstype} file system of the disk")
    if partitioned:
        add("sfdisk", "the partition table of the disk")
    return needed
