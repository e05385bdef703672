"""Ubuntu from the official cloud root image (squashfs; trusty: root tarball), SHA256-verified and
cached, with the mirror rewritten to DIB_DISTRIBUTION_MIRROR."""

DEPENDS = ["cache-url", "cloud-init-datasources", "dkms", "dpkg", "ubuntu-common"]
PROVIDES = ["operating-system"]
