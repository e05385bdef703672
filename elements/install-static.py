"""Copies the elements' `static/` folders onto the image's root.

DIB's `install-static`: the merged `static/` folder of the hooks tree (every element's
`static/`, legacy or Python package) is copied over `/` as `rsync -lCr static/ /` does, so
an element that ships `static/etc/boo` gets `/etc/boo` in the image:

- recursive; symlinks are copied as symlinks; owner and group are root;
- permissions are not kept as such (no `-p`): a new file or directory gets the source's
  permission bits less the 022 umask (no setuid/setgid/sticky bits), a file or directory
  already in the image keeps its permissions; times are not kept;
- `-C`: names in rsync's CVS ignore list are skipped, with everything below them:
  `*.so`, `*.a`, `*.o`, `core`, `tags`, `*.old`, `*.bak`, `*.orig`, `*~`, `#*`, `.git/`,
  `CVS`, ... and what a `.cvsignore` in the same folder lists. So a `static/usr/lib/x.so`
  does not reach the image under DIB either.

Deliberate differences: the copy runs on the host and never writes through a symlink of the
image (a file or link in the image is replaced); where the image has a symlink to a
directory (`/lib -> usr/lib`) and `static/` has a directory, the copy goes into the
directory the link points to inside the image (rsync's `--keep-dirlinks`), where rsync
without `-K` would replace the link by a real directory and break a merged-/usr image.
Sockets, fifos and devices in `static/` are skipped.

DIB installs rsync into the image for this (its package-installs.yaml); dibpy copies
from the host and needs no rsync in the image, so none is installed.
"""

import logging

from dibpy import BuildContext, install_hook
from dibpy.author import copy_into_root

log = logging.getLogger("dibpy.elements.install-static")

DEPENDS = ["package-installs"]


@install_hook(order=10)
def install_static_files(ctx: BuildContext) -> None:
    """Copy the elements' static/ folders onto / as `rsync -lCr` does."""
    static = ctx.hooks_path / "static"
    if not static.is_dir() or static.is_symlink():
        return
    written = copy_into_root(static, ctx.target_root, "/", cvs_exclude=True)
    log.info("Installed %d static files and folders", len(written))
