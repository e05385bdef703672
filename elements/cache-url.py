"""Downloads with a local cache: conditional GET, retries, atomic placement (dibpy.fetch)."""

DEPENDS = ["package-installs"]
