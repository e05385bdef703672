"""DIB's phases, in the order a build runs them."""

from __future__ import annotations

from enum import StrEnum


class Phase(StrEnum):
    """A build phase; the value is DIB's hyphenated name (its ``<value>.d`` folder)."""

    ROOT = "root"
    EXTRA_DATA = "extra-data"
    PRE_INSTALL = "pre-install"
    INSTALL = "install"
    POST_INSTALL = "post-install"
    POST_ROOT = "post-root"
    BLOCK_DEVICE = "block-device"
    PRE_FINALISE = "pre-finalise"
    FINALISE = "finalise"
    CLEANUP = "cleanup"


PHASES: tuple[Phase, ...] = tuple(Phase)

# The phases that build the tree, before the tree is turned into file systems.
TREE_PHASES: tuple[Phase, ...] = PHASES[: PHASES.index(Phase.POST_ROOT) + 1]
