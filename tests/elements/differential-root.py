"""Test element for the differential tests (tests/differential.py): bash-root made ready for
DIB's small elements, and a snapshot of the tree at the end of every phase.

The tree gets what a real Debian or Ubuntu tree has and DIB's scripts expect:
``/etc/selinux`` (libsemanage-common's), ``/etc/init`` and an ``/etc/inittab`` with
commented serial gettys (for the upstart and openrc paths), udev's
``80-net-name-slot.rules`` disabled by a link to /dev/null, a ``python3`` on the PATH (a
stand-in script: ``command -v`` only has to find it), and an ``apt-get`` stand-in that
records the packages it is asked to install as installed in ``/var/lib/dpkg/status``, so
the package sets of two builds can be compared. After the last hook of each phase, every path of the
tree (mounted file systems pruned) is written with its type, mode, owner, symlink target
and content digest to ``$DIBPY_SNAPSHOT_DIR/NN-PHASE.json``, so two builds can be compared
phase by phase, not only as the finished tree.
"""

import json
import os
from dataclasses import asdict
from pathlib import Path

from dibpy import (
    BuildContext,
    ElementSettings,
    Phase,
    block_device_hook,
    cleanup_hook,
    extra_data_hook,
    finalise_hook,
    install_hook,
    post_install_hook,
    post_root_hook,
    pre_finalise_hook,
    pre_install_hook,
    root_hook,
    setting,
)
from dibpy.tree.diff import Entry, entry_of

DEPENDS = ["bash-root"]
LAST = 99  # hooks run by (order, name, element): "zz_" keeps these after any other 99


class SnapshotSettings(ElementSettings):
    directory: str = setting("DIBPY_SNAPSHOT_DIR", "", "where the phase snapshots go")


APT_GET = """#!/bin/bash
# apt-get stand-in: the names after "install" are recorded as installed (options skipped).
set -eu
mkdir -p /var/lib/dpkg
installing=0
for word in "$@"; do
    case $word in
        install) installing=1 ;;
        -*) ;;
        *) if [ $installing = 1 ]; then
               printf 'Package: %s\\nStatus: install ok installed\\n\\n' "$word" \\
                   >> /var/lib/dpkg/status
           fi ;;
    esac
done
"""


INITTAB = """\
id:3:initdefault:
#s0:12345:respawn:/sbin/agetty -L 115200 ttyS0 vt100
#s1:12345:respawn:/sbin/agetty -L 115200 ttyS1 vt100
#c2:2345:respawn:/sbin/agetty 38400 tty2 linux
"""


@root_hook(order=20)
def ready_for_dib(ctx: BuildContext) -> None:
    """What DIB's scripts expect of a tree, and apt-get and python3 stand-ins."""
    root = ctx.target_root
    for folder in ("etc/selinux", "etc/init", "etc/udev/rules.d"):
        (root / folder).mkdir(mode=0o755, parents=True)
    (root / "etc/inittab").write_text(INITTAB)
    (root / "etc/udev/rules.d/80-net-name-slot.rules").symlink_to("/dev/null")
    for name, text in (("python3", "#!/bin/sh\nexit 0\n"), ("apt-get", APT_GET)):
        program = ctx.target_root / "usr/bin" / name
        program.write_text(text)
        program.chmod(0o755)


def _mount_points(root: Path) -> set[Path]:
    found = set()
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = Path(line.split()[4].replace("\\040", " "))
        if point != root and point.is_relative_to(root):
            found.add(point)
    return found


def snapshot(ctx: BuildContext, phase: Phase) -> None:
    directory = ctx.settings(SnapshotSettings).directory
    if not directory:
        return
    root = ctx.target_root
    pruned = _mount_points(root)
    tree: dict[str, Entry] = {"/": entry_of(root)}
    for here, dirs, files in os.walk(root):
        base = Path(here)
        dirs[:] = [d for d in dirs if base / d not in pruned]
        for name in [*dirs, *files]:
            tree["/" + str((base / name).relative_to(root))] = entry_of(base / name)
    number = list(Phase).index(phase)
    out = Path(directory) / f"{number:02d}-{phase.value}.json"
    out.write_text(json.dumps({path: asdict(entry) for path, entry in sorted(tree.items())}))


@root_hook(order=LAST)
def zz_snapshot_root(ctx: BuildContext) -> None:
    snapshot(ctx, Phase.ROOT)


@extra_data_hook(order=LAST)
def zz_snapshot_extra_data(ctx: BuildContext) -> None:
    snapshot(ctx, Phase.EXTRA_DATA)


@pre_install_hook(order=LAST)
def zz_snapshot_pre_install(ctx: BuildContext) -> None:
    snapshot(ctx, Phase.PRE_INSTALL)


@install_hook(order=LAST)
def zz_snapshot_install(ctx: BuildContext) -> None:
    snapshot(ctx, Phase.INSTALL)


@post_install_hook(order=LAST)
def zz_snapshot_post_install(ctx: BuildContext) -> None:
    snapshot(ctx, Phase.POST_INSTALL)


@post_root_hook(order=LAST)
def zz_snapshot_post_root(ctx: BuildContext) -> None:
    snapshot(ctx, Phase.POST_ROOT)


@block_device_hook(order=LAST)
def zz_snapshot_block_device(ctx: BuildContext) -> None:
    snapshot(ctx, Phase.BLOCK_DEVICE)


@pre_finalise_hook(order=LAST)
def zz_snapshot_pre_finalise(ctx: BuildContext) -> None:
    snapshot(ctx, Phase.PRE_FINALISE)


@finalise_hook(order=LAST)
def zz_snapshot_finalise(ctx: BuildContext) -> None:
    snapshot(ctx, Phase.FINALISE)


@cleanup_hook(order=LAST)
def zz_snapshot_cleanup(ctx: BuildContext) -> None:
    snapshot(ctx, Phase.CLEANUP)
