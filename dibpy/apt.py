"""apt-get inside the tree, as DIB's dpkg ``install-packages`` runs it."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from dibpy.context import BuildContext

log = logging.getLogger("dibpy.apt")

APT_GET = [
    "apt-get",
    "--assume-yes",
    "-o",
    "Dpkg::Options::=--force-confold",
    "-o",
    "Dpkg::Options::=--force-confdef",
]


def apt_get(ctx: BuildContext, action: str, packages: Sequence[str] = ()) -> None:
    """Run ``apt-get ACTION PACKAGES`` in the chroot (with the build's proxies)."""
    if action in ("install", "remove", "purge") and not packages:
        log.info("Not running apt-get %s with an empty package list", action)
        return
    argv = [*APT_GET, action]
    if action == "install":
        argv.append("--no-install-recommends")
    ctx.chroot.run([*argv, *packages], env=ctx.proxies)


def install(ctx: BuildContext, packages: Sequence[str]) -> None:
    apt_get(ctx, "install", packages)


def remove(ctx: BuildContext, packages: Sequence[str]) -> None:
    apt_get(ctx, "remove", packages)


def update(ctx: BuildContext) -> None:
    apt_get(ctx, "update")


def dist_upgrade(ctx: BuildContext) -> None:
    apt_get(ctx, "dist-upgrade")


def base_install(ctx: BuildContext, packages: Sequence[str]) -> None:
    """The debian-/ubuntu-minimal base install: ``update``, ``dist-upgrade``, ``install``.

    DIB also runs ``apt-get clean`` first; dibpy does not, because the shared apt cache is
    mounted over ``var/cache/apt/archives`` by then, and cleaning it would throw away the
    packages kept for the next build. The debs debootstrap left in the tree are removed by
    the finalise clean-up, once the shared cache is unmounted.
    """
    with ctx.chroot.session():
        update(ctx)
        dist_upgrade(ctx)
        install(ctx, packages)
