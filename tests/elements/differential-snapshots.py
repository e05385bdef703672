"""Test element for the differential tests (tests/differential.py): a snapshot of the tree at
the end of every phase.

After the last hook of each phase, every path of the tree (mounted file systems pruned) is
written with its type, mode, owner, symlink target and content digest to
``$DIBPY_SNAPSHOT_DIR/NN-PHASE.json``, so two builds can be compared phase by phase, not only
as the finished tree. It works on any operating system element: ``differential-root``
(bash-root, a second to build) or a real ``debian-minimal``.
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

LAST = 99  # hooks run by (order, name, element): "zz_" keeps these after any other 99


class SnapshotSettings(ElementSettings):
    directory: str = setting("DIBPY_SNAPSHOT_DIR", "", "where the phase snapshots go")


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
