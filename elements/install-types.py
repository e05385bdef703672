"""Chooses between source/package install variants of install hooks (DIB_INSTALLTYPE_*)."""
