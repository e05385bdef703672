"""Ubuntu built from scratch with debootstrap: a smaller image than the cloud image."""

DEPENDS = ["debootstrap", "package-installs", "ubuntu-common"]
PROVIDES = ["operating-system"]
