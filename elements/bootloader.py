"""Installs GRUB 2 into the image (BIOS and UEFI) with a serial-console kernel command line."""
