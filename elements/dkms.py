"""Builds and installs DKMS kernel modules for every kernel in the image."""

DEPENDS = ["package-installs"]
