"""Work that must wait for the disk layout: hooks register it, the build runs it.

Finalise hooks see the finished tree, but sizes are only known once the tree is final. A
hook that needs the layout (the bootloader, say) registers a step: ``before_assembly``
steps write into the tree (they see the placed layout with its partition numbers and
UUIDs), ``after_assembly`` steps write onto the raw disk image (boot code outside any
file system).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dibpy.blockdev.model import DiskLayout

TreeStep = Callable[[DiskLayout], None]
DiskStep = Callable[[Path, DiskLayout], None]


@dataclass
class DiskSteps:
    """The steps registered for the disk this build makes."""

    before: list[TreeStep] = field(default_factory=list)
    after: list[DiskStep] = field(default_factory=list)

    def before_assembly(self, step: TreeStep) -> None:
        """Run ``step(layout)`` after the last hook, before the file systems are made."""
        self.before.append(step)

    def after_assembly(self, step: DiskStep) -> None:
        """Run ``step(raw_image, layout)`` once the raw disk is assembled."""
        self.after.append(step)
