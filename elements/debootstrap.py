"""Creates the root tree with debootstrap (cached as a tarball), then sets up networking, the
locale and sudoers.d for Debian-family distributions."""

DEPENDS = ["dpkg", "modprobe", "pkg-map", "sysprep"]
