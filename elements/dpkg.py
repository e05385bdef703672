"""The dpkg/apt machinery of Debian-family images: build-time apt settings and their undo,
the shared apt archive cache, package installs and the dpkg manifest.

Root hooks: the build proxy (50), no apt translations (60, the seed's number), blocked
daemons, the shared apt cache and trimmed dpkg (50, as DIB 3.43 numbers them: the seed's 99
would run them after the debian-/ubuntu-minimal base install at 75, which would then start
daemons in the chroot, fsync every file and download every .deb afresh on each build).
Cleanup hooks undo them as DIB's cleanup.d does: unblock daemons (40), remove the build
proxy (50), untrim dpkg (60), so the image ships a real start-stop-daemon, no proxy and
normal dpkg settings.
"""

import json
from pathlib import Path

from dibpy import (
    BuildContext,
    ElementSettings,
    apt,
    cleanup_hook,
    finalise_hook,
    pre_install_hook,
    root_hook,
    setting,
)
from dibpy.author import in_root, install_file, parse_bool, remove_file, write_file

DEPENDS = ["install-bin", "manifests", "package-installs"]

PROXY_CONF = "etc/apt/apt.conf.d/60img-build-proxy"
NO_TRANSLATIONS_CONF = "etc/apt/apt.conf.d/95no-translations"
SPEEDUP_CONF = "etc/dpkg/dpkg.cfg.d/02apt-speedup"
NO_LANGUAGES_CONF = "etc/apt/apt.conf.d/no-languages"
POLICY_RC_D = "usr/sbin/policy-rc.d"
BLOCKED_DAEMONS = ("sbin/start-stop-daemon", "sbin/initctl")
REAL_SUFFIX = ".REAL"

FAKE_DAEMON = """#!/bin/sh
echo
echo "Warning: Fake start-stop-daemon called, doing nothing"
"""
POLICY_DENY = "#!/bin/sh\nexit 101\n"
NO_RECOMMENDS = 'APT::Install-Recommends "0";\nAPT::Install-Suggests "0";\n'
DPKG_QUERY_FORMAT = "${Package}\\t${Architecture}\\t${Version}\\t${db:Status-Status}\\n"


class DpkgSettings(ElementSettings):
    distro: str = setting("DISTRO_NAME", "debian", "distribution name, for the apt cache")
    apt_local_cache: str = setting(
        "DIB_APT_LOCAL_CACHE", "1", "0 turns off the shared apt archive cache"
    )
    add_apt_keys: Path | None = setting(
        "DIB_ADD_APT_KEYS", None, "a directory of keys for etc/apt/trusted.gpg.d"
    )
    disable_apt_cleanup: str = setting(
        "DIB_DISABLE_APT_CLEANUP", "0", "1 keeps the apt cache in the image"
    )
    manifest_dir: str = setting(
        "DIB_MANIFEST_IMAGE_DIR", "/etc/dib-manifests", "where manifests go in the image"
    )


@root_hook(order=9)
def apt_keyring(ctx: BuildContext) -> None:
    """Copy the keys of DIB_ADD_APT_KEYS into etc/apt/trusted.gpg.d (a key file or symlink
    already there is replaced, never written through)."""
    keys = ctx.settings(DpkgSettings).add_apt_keys
    if keys is None:
        return
    for key in sorted(keys.rglob("*")):
        if key.is_file():
            install_file(ctx.target_root, key, f"etc/apt/trusted.gpg.d/{key.name}", 0o644)


@root_hook(order=50)
def build_with_http_cache(ctx: BuildContext) -> None:
    """Point apt at http_proxy during the build (removed again in cleanup)."""
    proxy = ctx.proxies.get("http_proxy")
    if proxy:
        write_file(ctx.target_root, PROXY_CONF, f'Acquire::http::Proxy "{proxy}";\n')


@root_hook(order=60)
def block_apt_translations(ctx: BuildContext) -> None:
    """Stop apt fetching translations, and drop the ones already downloaded."""
    write_file(ctx.target_root, NO_TRANSLATIONS_CONF, 'Acquire::Languages "none";\n')
    lists = in_root(ctx.target_root, "var/lib/apt/lists")
    if lists.is_dir():
        for translation in lists.glob("*_i18n_Translation-*"):
            if translation.is_file() or translation.is_symlink():
                translation.unlink()


@root_hook(order=50)
def block_daemons(ctx: BuildContext) -> None:
    """Keep package scripts from starting services in the chroot: a no-op
    start-stop-daemon (and initctl), and a policy-rc.d that says no."""
    root = ctx.target_root
    for daemon in BLOCKED_DAEMONS:
        path = in_root(root, daemon)
        if path.is_file() and not path.with_name(path.name + REAL_SUFFIX).exists():
            path.rename(path.with_name(path.name + REAL_SUFFIX))
            write_file(root, daemon, FAKE_DAEMON, 0o755)
    write_file(root, POLICY_RC_D, POLICY_DENY, 0o755)


@root_hook(order=50)
def shared_apt_cache(ctx: BuildContext) -> None:
    """Share downloaded .debs between builds: mount the image cache's apt-archives area of
    the distribution at var/cache/apt/archives (DIB_APT_LOCAL_CACHE=0 turns it off)."""
    settings = ctx.settings(DpkgSettings)
    if not parse_bool("DIB_APT_LOCAL_CACHE", settings.apt_local_cache):
        return
    ctx.cache.mount(ctx.cache.area("apt-archives", settings.distro), apt.ARCHIVES)


@root_hook(order=50)
def trim_dpkg(ctx: BuildContext) -> None:
    """Faster dpkg during the build: no fsync (force-unsafe-io), no language lists."""
    write_file(ctx.target_root, SPEEDUP_CONF, "force-unsafe-io\n")
    write_file(ctx.target_root, NO_LANGUAGES_CONF, 'Acquire::Languages "none";\n')


@pre_install_hook(order=0)
def disable_apt_recommends(ctx: BuildContext) -> None:
    """Turn off recommended and suggested packages (this setting stays in the image)."""
    write_file(ctx.target_root, "etc/apt/apt.conf.d/95disable-recommends", NO_RECOMMENDS)


@pre_install_hook(order=99)
def apt_get_update(ctx: BuildContext) -> None:
    """Refresh the package lists."""
    apt.update(ctx)


@finalise_hook(order=99)
def clean_up_cache(ctx: BuildContext) -> None:
    """apt-get clean, unless DIB_DISABLE_APT_CLEANUP=1."""
    if not parse_bool("DIB_DISABLE_APT_CLEANUP", ctx.settings(DpkgSettings).disable_apt_cleanup):
        apt.apt_get(ctx, "clean")


@finalise_hook(order=99)
def write_dpkg_manifest(ctx: BuildContext) -> None:
    """Record the installed packages as JSON in the image's manifest directory."""
    listing = ctx.chroot.run(
        ["dpkg-query", "--show", f"--showformat={DPKG_QUERY_FORMAT}"], capture=True
    ).stdout
    packages = []
    for line in listing.splitlines():
        name, arch, version, status = ([*line.split("\t"), "", "", "", ""])[:4]
        packages.append({"package": name, "arch": arch, "version": version, "status": status})
    manifest_dir = ctx.settings(DpkgSettings).manifest_dir.strip("/")
    name = f"dib-manifest-dpkg-{Path(ctx.image_name).name}"
    write_file(
        ctx.target_root,
        f"{manifest_dir}/{name}",
        json.dumps({"packages": packages}, indent=2) + "\n",
        0o600,
    )


@cleanup_hook(order=40)
def unblock_daemons(ctx: BuildContext) -> None:
    """Put the real start-stop-daemon (and initctl) back and remove policy-rc.d."""
    root = ctx.target_root
    for daemon in BLOCKED_DAEMONS:
        path = in_root(root, daemon)
        real = path.with_name(path.name + REAL_SUFFIX)
        if real.is_file():
            real.replace(path)
    remove_file(root, POLICY_RC_D)


@cleanup_hook(order=50)
def remove_img_build_proxy(ctx: BuildContext) -> None:
    """Remove the build-time apt proxy setting."""
    remove_file(ctx.target_root, PROXY_CONF)


@cleanup_hook(order=60)
def untrim_dpkg(ctx: BuildContext) -> None:
    """Restore normal dpkg settings (fsync on, language lists as configured)."""
    remove_file(ctx.target_root, SPEEDUP_CONF)
    remove_file(ctx.target_root, NO_LANGUAGES_CONF)
