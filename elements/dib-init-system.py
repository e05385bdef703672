"""Handles the image's init system (DIB_INIT_SYSTEM): one of upstart, openrc, systemd, sysv.

DIB's `dib-init-system`, with the value checked before the build starts:

- pre-install 04 writes DIB's deprecated helper `/usr/local/bin/dib-init-system`, a bash
  script that echoes the init system (mode 0775, root), since legacy element scripts
  still call it;
- install 20 copies the merged `init-scripts/$DIB_INIT_SYSTEM/` folder of the hooks tree
  (every element's `init-scripts/<init>/`) to `/usr/lib/systemd/system/` (systemd),
  `/etc/init/` (upstart) or `/etc/init.d/` (openrc, sysv), as `cp -RP dir/. DEST` does:
  symlinks stay symlinks, new files get the source's permissions less the 022 umask,
  files already there keep theirs;
- post-install 10, for openrc only, runs `rc-update add NAME default` in the chroot for
  each of those scripts. systemd units are not enabled here (nor are they in DIB).

Deliberate differences: a missing destination folder is created (DIB's `cp` failed
silently, installing nothing), a copy error stops the build (DIB ignored it), and a
symlink in the image is replaced, never written through.
"""

import logging
from pathlib import Path
from typing import Literal

from dibpy import (
    BuildContext,
    ElementSettings,
    install_hook,
    post_install_hook,
    pre_install_hook,
    setting,
)
from dibpy.author import copy_into_root, write_file

log = logging.getLogger("dibpy.elements.dib-init-system")

InitSystem = Literal["upstart", "openrc", "systemd", "sysv"]

DESTINATIONS: dict[str, str] = {
    "upstart": "/etc/init/",
    "openrc": "/etc/init.d/",
    "systemd": "/usr/lib/systemd/system/",
    "sysv": "/etc/init.d/",
}
HELPER = "/usr/local/bin/dib-init-system"


class InitSystemSettings(ElementSettings):
    init_system: InitSystem = setting("DIB_INIT_SYSTEM", "systemd", "the image's init system")


def init_scripts(ctx: BuildContext) -> Path | None:
    """The merged ``init-scripts/<init system>/`` folder of the hooks tree, if any."""
    folder = ctx.hooks_path / "init-scripts" / ctx.settings(InitSystemSettings).init_system
    return folder if folder.is_dir() and not folder.is_symlink() else None


@pre_install_hook(order=4)
def dib_init_system_helper(ctx: BuildContext) -> None:
    """Write DIB's deprecated /usr/local/bin/dib-init-system, which echoes the init system."""
    init = ctx.settings(InitSystemSettings).init_system
    write_file(ctx.target_root, HELPER, f"#!/bin/bash\necho {init}\n", mode=0o775)


@install_hook(order=20)
def install_init_scripts(ctx: BuildContext) -> None:
    """Copy the elements' init-scripts/<init system>/ to the init system's folder."""
    folder = init_scripts(ctx)
    if folder is None:
        return
    destination = DESTINATIONS[ctx.settings(InitSystemSettings).init_system]
    written = copy_into_root(folder, ctx.target_root, destination)
    log.info("Installed %d init scripts into %s", len(written), destination)


@post_install_hook(order=10)
def enable_init_scripts(ctx: BuildContext) -> None:
    """openrc: add each of the elements' init scripts to the default runlevel."""
    if ctx.settings(InitSystemSettings).init_system != "openrc":
        return
    folder = init_scripts(ctx)
    if folder is None:
        return
    for script in sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")):
        ctx.chroot.run(["rc-update", "add", script, "default"])
