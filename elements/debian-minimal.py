"""Debian built from scratch with debootstrap, with apt sources from DIB_APT_SOURCES_CONF and
the security mirror."""

DEPENDS = ["debootstrap", "pkg-map"]
PROVIDES = ["operating-system"]
