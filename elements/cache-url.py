"""Downloads with a local cache: conditional GET, retries, atomic placement. In dibpy this is
the `dibpy.host.fetch` module (`ctx.fetcher`); the element installs curl into the image as DIB's
does."""

DEPENDS = ["package-installs"]
PACKAGES = {"curl": None}
