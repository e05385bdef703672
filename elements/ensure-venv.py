"""Makes sure ``python3 -m venv`` works in the image (DIB's ``ensure-venv``): installs
python3-venv where the distribution packages it separately (Debian's ``python3-venv``; Red
Hat's and SUSE's ``python3`` has venv; Gentoo's ``dev-lang/python``), through pkg-map."""

DEPENDS = ["package-installs"]
PACKAGES = {"python3-venv": None}
PKG_MAP = {
    "family": {
        "debian": {"python3-venv": "python3-venv"},
        "gentoo": {"python3-venv": "dev-lang/python"},
        "redhat": {"python3-venv": "python3"},
        "suse": {"python3-venv": "python3"},
    },
    "default": {"python3-venv": ""},
}
