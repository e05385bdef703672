"""Stage 4 of the pipeline: running a plan. ``Build`` drives the phases, hooks get a
``BuildContext``, and the tree is turned into a disk image (``diskimage``, ``assembly``)."""
