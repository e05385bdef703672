"""The driver's own steps: what a build does besides running hooks, and after which phase.

The plan lists them in run order between the phases, so ``dibpy plan`` shows everything a
build does; the build runs them from this same table (``Build._driver_step``), so the
listing cannot drift from what happens.
"""

from __future__ import annotations

from dataclasses import dataclass

from dibpy.phases import Phase


@dataclass(frozen=True)
class DriverStep:
    """A step of the driver; ``after`` is the phase it follows (None: before the first)."""

    name: str
    after: Phase | None
    doc: str


DRIVER_STEPS: tuple[DriverStep, ...] = (
    DriverStep(
        "hooks-tree",
        None,
        "Assemble the elements' data folders into the hooks tree (TMP_HOOKS_PATH).",
    ),
    DriverStep(
        "chroot-mounts",
        None,
        "From here on, mount proc, sys, dev and dev/pts in the tree around each chroot "
        "command, and release them after it.",
    ),
    DriverStep("check-root", Phase.ROOT, "Check that the root phase deployed a tree."),
    DriverStep(
        "host-resolver",
        Phase.ROOT,
        "Use the host's resolv.conf in the tree while it is built (its own kept aside).",
    ),
    DriverStep(
        "release-tree-mounts",
        Phase.POST_ROOT,
        "Release the mounts hooks made in the tree: the shared image cache areas (apt "
        "archives, ccache) and every other ctx.mounts mount, last first.",
    ),
    DriverStep(
        "fstab",
        Phase.BLOCK_DEVICE,
        "Write etc/fstab from the block-device layout (when a disk image is made).",
    ),
    DriverStep(
        "release-all-mounts",
        Phase.CLEANUP,
        "Kill what still runs in the tree; release every mount in it, a hook's leftovers too.",
    ),
    DriverStep("restore-resolver", Phase.CLEANUP, "Put the tree's own resolv.conf back."),
    DriverStep(
        "tidy",
        Phase.CLEANUP,
        "Tidy the tree: empty tmp, truncate the logs in var/log, drop root/*.log.",
    ),
    DriverStep(
        "assemble-image",
        Phase.CLEANUP,
        "Make the disk image from the tree (partitions, file systems, bootloader steps), "
        "when a format needs one.",
    ),
    DriverStep(
        "write-outputs",
        Phase.CLEANUP,
        "Write every output format, its checksums, and the manifest.",
    ),
)


def steps_after(phase: Phase | None) -> tuple[DriverStep, ...]:
    """The driver's steps that follow ``phase`` (None: those before the first phase)."""
    return tuple(step for step in DRIVER_STEPS if step.after is phase)
