"""Shares pip's download cache between builds (DIB's ``pip-cache``).

The image cache's ``pip`` area (``$DIB_IMAGE_CACHE/pip``) is bind-mounted at ``/tmp/pip`` in
the tree from the root phase on (DIB's ``root.d/11-pip-cache``), and ``PIP_DOWNLOAD_CACHE``
is ``/tmp/pip`` for every hook (DIB's ``environment.d/10-pip-cache``), so what pip downloads
in one build is there for the next. The build releases the mount when the tree phases end;
nothing of the cache is left in the image.
"""

from dibpy import BuildContext, root_hook

ENVIRONMENT = {"PIP_DOWNLOAD_CACHE": "/tmp/pip"}  # noqa: S108 (the image's /tmp)
MOUNT_POINT = "tmp/pip"


@root_hook(order=11)
def pip_cache(ctx: BuildContext) -> None:
    """Bind-mount the image cache's pip area at /tmp/pip."""
    ctx.cache.mount(ctx.cache.area("pip"), MOUNT_POINT)
