"""Disk layouts: DIB's block-device YAML parsed and checked (``config``), partitions placed
(``layout``, ``sizes``) and the raw disk written from the tree with no loop device and no
mount (``disk``, ``xfs``)."""
