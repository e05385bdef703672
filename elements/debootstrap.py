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
import shutil
from pathlib import Path

from dibpy import (
    BuildContext,
    ElementSettings,
    InputError,
    cleanup_hook,
    install_hook,
    root_hook,
    setting,
)
from dibpy.author import AptDistroSettings, extract_root_image, in_root, parse_bool, write_file

DEPENDS = ["dpkg", "modprobe", "pkg-map", "sysprep"]
ENVIRONMENT = {
    "DIB_DEBOOTSTRAP_DEFAULT_LOCALE": "C.UTF-8",
    "DIB_NETWORK_INTERFACE_NAMES": "eth0 eth1",
}

LOCK_TIMEOUT = 20 * 60
HOST_TOOLS = ["debootstrap", "tar", "zstd"]  # checked before the build starts

PACKAGES = {
    "adduser": None,
    "ca-certificates": None,
    "cloud-initramfs-growroot": None,
    "locales": None,
    "lsb-release": {"phase": "pre-install"},
}
# cloud-initramfs-growroot exists only in bullseye among the releases DIB supports.
PKG_MAP = {
    "default": {"cloud-initramfs-growroot": ""},
    "release": {"debian": {"bullseye": {"cloud-initramfs-growroot": "cloud-initramfs-growroot"}}},
}


class DebootstrapSettings(ElementSettings):
    keyring: str = setting("DIB_APT_KEYRING", "", "keyring debootstrap checks the Release with")
    debian_keyring: str = setting("DIB_DEBIAN_KEYRING", "", "older name of DIB_APT_KEYRING")
    extra_args: str = setting("DIB_DEBOOTSTRAP_EXTRA_ARGS", "", "more debootstrap arguments")
    script: str = setting("DIB_DEBIAN_DEBOOTSTRAP_SCRIPT", "", "a custom debootstrap script")
    cache: str = setting("DIB_DEBOOTSTRAP_CACHE", "1", "0: do not cache or reuse the tree")
    distro: str = setting("DISTRO_NAME", "debian")
    interfaces: str = setting(
        "DIB_NETWORK_INTERFACE_NAMES", "eth0 eth1", "interfaces configured for DHCP"
    )
    create_interfaces: str = setting(
        "DIB_APT_MINIMAL_CREATE_INTERFACES", "1", "0: do not write /etc/network/interfaces.d"
    )
    default_locale: str = setting(
        "DIB_DEBOOTSTRAP_DEFAULT_LOCALE", "C.UTF-8", "LANG and LC_ALL in /etc/default/locale"
    )


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


def cache_entry(ctx: BuildContext, distro: AptDistroSettings, argv: list[str]) -> str:
    """The name of the cached tree for exactly this command line (the target path left
    out), an entry of the image cache's debootstrap area."""
    key_parts = [part for part in argv if part != str(ctx.target_root)]
    key = hashlib.sha256("\0".join(key_parts).encode()).hexdigest()[:12]
    return f"debootstrap-{distro.distro}-{distro.release}-{ctx.arch}-{key}.tar.zst"


@root_hook(order=8)
def debootstrap(ctx: BuildContext) -> None:
    """Create the tree with debootstrap, or unpack the tree cached by an earlier build."""
    distro = ctx.settings(AptDistroSettings)
    settings = ctx.settings(DebootstrapSettings)
    argv = debootstrap_command(ctx, distro, settings)
    use_cache = parse_bool("DIB_DEBOOTSTRAP_CACHE", settings.cache)
    area = ctx.cache.area("debootstrap")
    entry = cache_entry(ctx, distro, argv)
    with area.lock(entry, timeout=LOCK_TIMEOUT) as cached:
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
            with area.placing(entry) as partial:
                _save_tree(ctx, partial)


def _remove_apt_sources(root: Path) -> None:
    """debootstrap's sources are replaced by the OS element's (as DIB does)."""
    in_root(root, "etc/apt/sources.list", follow_final=False).unlink(missing_ok=True)
    sources_d = in_root(root, "etc/apt/sources.list.d")
    if sources_d.is_dir():
        for entry in sources_d.iterdir():
            entry.unlink()


def _save_tree(ctx: BuildContext, tarball: Path) -> None:
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
            tarball,
            ".",
        ]
    )


@install_hook(order=10)
def debian_networking(ctx: BuildContext) -> None:
    """Hostname, and DHCP on DIB_NETWORK_INTERFACE_NAMES through /etc/network/interfaces.d."""
    settings = ctx.settings(DebootstrapSettings)
    write_file(ctx.target_root, "etc/hostname", f"{settings.distro}\n")
    if not parse_bool("DIB_APT_MINIMAL_CREATE_INTERFACES", settings.create_interfaces):
        return
    write_file(
        ctx.target_root,
        "etc/network/interfaces",
        "source-directory /etc/network/interfaces.d\n\nauto lo\niface lo inet loopback\n",
    )
    for name in settings.interfaces.split():
        write_file(
            ctx.target_root,
            f"etc/network/interfaces.d/{name}",
            f"auto {name}\niface {name} inet dhcp\n",
        )


@install_hook(order=12)
def debian_locale_gen(ctx: BuildContext) -> None:
    """Generate en_US.UTF-8 and make DIB_DEBOOTSTRAP_DEFAULT_LOCALE the default."""
    in_root(ctx.target_root, "etc/locale.gen", follow_final=False).unlink(missing_ok=True)
    selections = (
        "locales locales/locales_to_be_generated multiselect en_US.UTF-8 UTF-8\n"
        "locales locales/default_environment_locale select en_US.UTF-8\n"
    )
    with ctx.chroot.session():
        ctx.chroot.run(["debconf-set-selections"], input=selections)
        ctx.chroot.run(["dpkg-reconfigure", "-f", "noninteractive", "locales"])
    locale = ctx.settings(DebootstrapSettings).default_locale
    write_file(ctx.target_root, "etc/default/locale", f"LANG={locale}\nLC_ALL={locale}\n")


@install_hook(order=15)
def cleanup_debootstrap(ctx: BuildContext) -> None:
    """Make sure /etc/sudoers.d exists (sudo's drop-in directory)."""
    sudoers = in_root(ctx.target_root, "etc/sudoers.d")
    sudoers.mkdir(parents=True, exist_ok=True)
    sudoers.chmod(0o755)


@cleanup_hook(order=99)
def clean_up_cache(ctx: BuildContext) -> None:
    """Empty var/lib/apt/lists: the image fetches fresh lists on first use."""
    lists = in_root(ctx.target_root, "var/lib/apt/lists")
    if lists.is_dir():
        for entry in lists.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
