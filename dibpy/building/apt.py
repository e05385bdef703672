"""apt-get inside the tree, as DIB's dpkg ``install-packages`` runs it.

One difference, for speed: the initramfs of a newly installed kernel is made once, after
the whole apt transaction, instead of twice. When a kernel and initramfs-tools arrive in
one transaction (every debian-minimal and ubuntu-minimal build), Debian makes it once in
the kernel's postinst (``/etc/kernel/postinst.d/initramfs-tools``, ``update-initramfs -c``)
and again when the ``update-initramfs`` trigger runs at the end; each run takes 15-40 s.
dibpy runs apt with ``INITRD=No``, which makes the kernel hook step aside (the trigger still
updates any initramfs that already exists), and then makes the initramfs of every kernel
that has none (``update-initramfs -c -k VERSION``) once apt is done, after all the
packages of the transaction, hooks included, are configured.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from dibpy.building.context import BuildContext
from dibpy.tree.paths import in_root

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
    with ctx.chroot.session():
        with shared_archives_lock(ctx):
            ctx.chroot.run([*argv, *packages], env={**ctx.proxies, **DEFER_INITRAMFS})
        if action in INSTALLING_ACTIONS:
            make_missing_initramfs(ctx)


INSTALLING_ACTIONS = ("install", "dist-upgrade", "upgrade")  # may bring a new kernel


APT_LOCK_TIMEOUT = 3600.0
ARCHIVES = "var/cache/apt/archives"  # where apt keeps the .debs it downloads


@contextmanager
def shared_archives_lock(ctx: BuildContext) -> Iterator[None]:
    """Builds that share an apt archive cache (an image cache area the dpkg element mounts
    at var/cache/apt/archives, DIB_APT_LOCAL_CACHE) run apt-get in turn: apt refuses at
    once ("Could not get lock .../archives/lock") while another build's apt holds the
    directory. The lock is the area's ``dibpy-apt`` entry lock; a build waits up to an hour
    for it."""
    shared = ctx.cache.mounted_at(ARCHIVES)
    if shared is None:
        yield
        return
    doing = "running apt-get with the shared apt cache"
    with shared.lock("dibpy-apt", timeout=APT_LOCK_TIMEOUT, doing=doing):
        yield


DEFER_INITRAMFS = {"INITRD": "No"}
_KERNEL = re.compile(r"vmlinu[xz]-(?P<version>.+)")


def kernels_without_initramfs(tree: Path) -> list[str]:
    """Versions of the kernels in the tree's /boot that have modules but no initrd.img."""
    boot = in_root(tree, "/boot")
    if not boot.is_dir():
        return []
    found = []
    for kernel in sorted(boot.iterdir()):
        match = _KERNEL.fullmatch(kernel.name)
        if match is None or kernel.is_symlink():
            continue
        version = match["version"]
        has_modules = in_root(tree, f"/lib/modules/{version}").is_dir()
        if has_modules and not (boot / f"initrd.img-{version}").exists():
            found.append(version)
    return found


def make_missing_initramfs(ctx: BuildContext) -> None:
    """``update-initramfs -c`` for each kernel that has no initramfs (see the module doc)."""
    if not in_root(ctx.target_root, "/usr/sbin/update-initramfs").exists():
        return
    for version in kernels_without_initramfs(ctx.target_root):
        log.info("Making the initramfs of kernel %s", version)
        ctx.chroot.run(["update-initramfs", "-c", "-k", version])


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
