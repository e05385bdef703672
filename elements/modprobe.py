"""Kernel module blacklists: elements' modprobe.d files and DIB_MODPROBE_BLACKLIST."""
