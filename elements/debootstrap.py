"""Creates the root tree with debootstrap (cached as a tarball), then sets up networking, the
locale and sudoers.d for Debian-family distributions.

The tree debootstrap makes is cached in the image cache as
``debootstrap-<distro>-<release>-<arch>-<key>.tar.zst`` (the key covers the mirror,
components, keyring and extra arguments), and the next build unpacks it instead of
downloading again; ``DIB_DEBOOTSTRAP_CACHE=0`` turns the cache off. Unlike DIB, which
uses its cache only offline, dibpy reuses it by default: the later apt upgrade brings the
tree up to date either way.
"""

import hashlib
import shlex
from pathlib import Path

from dibpy import BuildContext, ElementSettings, root_hook, setting
from dibpy.distro import AptDistroSettings
from dibpy.errors import InputError
from dibpy.extract import extract_root_image
from dibpy.fetch import cache_lock
from dibpy.rootfs import in_root
from dibpy.settings import parse_bool

DEPENDS = ["dpkg", "modprobe", "pkg-map", "sysprep"]
ENVIRONMENT = {
    "DIB_DEBOOTSTRAP_DEFAULT_LOCALE": "C.UTF-8",
    "DIB_NETWORK_INTERFACE_NAMES": "eth0 eth1",
}

LOCK_TIMEOUT = 20 * 60


class DebootstrapSettings(ElementSettings):
    keyring: str = setting("DIB_APT_KEYRING", "", "keyring debootstrap checks the Release with")
    debian_keyring: str = setting("DIB_DEBIAN_KEYRING", "", "older name of DIB_APT_KEYRING")
    extra_args: str = setting("DIB_DEBOOTSTRAP_EXTRA_ARGS", "", "more debootstrap arguments")
    script: str = setting("DIB_DEBIAN_DEBOOTSTRAP_SCRIPT", "", "a custom debootstrap script")
    cache: str = setting("DIB_DEBOOTSTRAP_CACHE", "1", "0: do not cache or reuse the tree")


def debootstrap_command(
    ctx: BuildContext, distro: AptDistroSettings, settings: DebootstrapSettings
) -> list[str]:
    """The debootstrap command line for this build."""
    argv = [
        "debootstrap",
        "--verbose",
        "--variant=minbase",
        f"--components={','.join(distro.component_list)}",
        f"--arch={ctx.arch}",
    ]
    keyring = settings.keyring or settings.debian_keyring
    if keyring:
        argv.append(f"--keyring={keyring}")
    argv += shlex.split(settings.extra_args)
    argv += [distro.release, str(ctx.target_root), distro.mirror_for(ctx.arch)]
    if settings.script:
        argv.append(settings.script)
    return argv


def cache_file(ctx: BuildContext, distro: AptDistroSettings, argv: list[str]) -> Path:
    """The cached tree for exactly this command line (the target path left out)."""
    key_parts = [part for part in argv if part != str(ctx.target_root)]
    key = hashlib.sha256("\0".join(key_parts).encode()).hexdigest()[:12]
    name = f"debootstrap-{distro.distro}-{distro.release}-{ctx.arch}-{key}.tar.zst"
    return ctx.image_cache / name


@root_hook(order=8)
def debootstrap(ctx: BuildContext) -> None:
    """Create the tree with debootstrap, or unpack the tree cached by an earlier build."""
    distro = ctx.settings(AptDistroSettings)
    settings = ctx.settings(DebootstrapSettings)
    argv = debootstrap_command(ctx, distro, settings)
    use_cache = parse_bool("DIB_DEBOOTSTRAP_CACHE", settings.cache)
    cached = cache_file(ctx, distro, argv)
    with cache_lock(cached, timeout=LOCK_TIMEOUT):
        if use_cache and cached.is_file():
            extract_root_image(cached, ctx.target_root, ctx.runner)
            return
        if ctx.offline:
            raise InputError(
                f"DIB_OFFLINE is set but there is no cached debootstrap tree ({cached}); "
                "build once online, or unset DIB_OFFLINE."
            )
        ctx.run(argv, env=ctx.proxies)
        _remove_apt_sources(ctx.target_root)
        if use_cache:
            _save_tree(ctx, cached)


def _remove_apt_sources(root: Path) -> None:
    """debootstrap's sources are replaced by the OS element's (as DIB does)."""
    in_root(root, "etc/apt/sources.list", follow_final=False).unlink(missing_ok=True)
    sources_d = in_root(root, "etc/apt/sources.list.d")
    if sources_d.is_dir():
        for entry in sources_d.iterdir():
            entry.unlink()


def _save_tree(ctx: BuildContext, cached: Path) -> None:
    partial = cached.with_name(f".{cached.name}.partial")
    try:
        ctx.run(
            [
                "tar",
                "--numeric-owner",
                "--xattrs",
                "--xattrs-include=*",
                "--one-file-system",
                "--zstd",
                "--exclude=./tmp/*",
                "-C",
                ctx.target_root,
                "-cf",
                partial,
                ".",
            ]
        )
        partial.replace(cached)
    finally:
        partial.unlink(missing_ok=True)
