"""The baseline every image gets: baseline tools, an up-to-date package set, the cloud-init
configuration directory and (dibpy) the shared ccache mount. Added unless `-n` is given."""

DEPENDS = ["dib-init-system", "install-types", "pkg-map"]
