"""Installs and uninstalls the packages elements declare, one batch per phase."""

DEPENDS = ["install-bin", "pkg-map"]
