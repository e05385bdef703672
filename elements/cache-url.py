"""Downloads with a local cache: conditional GET, retries, atomic placement. In dibpy this is
`ctx.fetcher` and the image cache's verified downloads (`ctx.cache`); the element installs curl
into the image as DIB's does."""

DEPENDS = ["package-installs"]
PACKAGES = {"curl": None}
