"""The ways in: the command line (``cli``), its progress view and logging, ``dibpy show``
and ``dibpy boot`` (``qemu``). They call the pipeline through ``dibpy.api``."""
