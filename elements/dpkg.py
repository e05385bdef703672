"""The dpkg/apt machinery of Debian-family images: build-time apt settings and their undo,
the shared apt archive cache, package installs and the dpkg manifest."""

DEPENDS = ["install-bin", "manifests", "package-installs"]
