"""The full Debian cloud image (DIB's ``debian``): ``debian-minimal`` with sshd, sysprep, the
cloud packages and DIB's "cloud opinions".

Packages (install phase, DIB's package-installs.yaml): file, less, kbd, curl, rsync,
bash-completion, isc-dhcp-client, net-tools, cloud-init, cloud-utils,
cloud-initramfs-growroot, dialog, cron.

Install hook 10 (DIB's ``install.d/10-cloud-opinions``), in the image:

- the init system: ``DIB_DEBIAN_ALT_INIT_PACKAGE`` (default ``systemd-sysv``; ``sysvinit``
  for releases up to wheezy). Unless it is ``sysvinit``, sysvinit is purged
  (``dpkg --purge --force remove-essential``), the package installed, and sysvinit pinned
  away (``/etc/apt/preferences.d/sysvinit``, priority -1);
- ``DIB_DEBIAN_CLOUD_INIT_HELPER`` (default: set for releases up to wheezy, else unset):
  when non-empty, a ``debian`` user (``adduser --disabled-password``) with passwordless sudo
  (``/etc/sudoers.d/debian-cloud-init``, 0440);
- bookworm, ``stable`` and ``testing`` get ``netplan.io``.
"""

from __future__ import annotations

from dibpy import BuildContext, ElementSettings, install_hook, setting
from dibpy.author import make_dir, write_file

DEPENDS = ["debian-minimal", "openssh-server", "sysprep"]
PACKAGES: dict[str, None] = {
    name: None
    for name in (
        "file",
        "less",
        "kbd",
        "curl",
        "rsync",
        "bash-completion",
        "isc-dhcp-client",
        "net-tools",
        "cloud-init",
        "cloud-utils",
        "cloud-initramfs-growroot",
        "dialog",
        "cron",
    )
}
OLD_RELEASES = ("hamm", "slink", "potato", "woody", "sarge", "etch", "lenny", "squeeze", "wheezy")
NETPLAN_RELEASES = ("bookworm", "stable", "testing")
SYSVINIT_PIN = 'Package: sysvinit\nPin: origin ""\nPin-Priority: -1\n'


class DebianSettings(ElementSettings):
    release: str = setting("DIB_RELEASE", "stable", "Debian release")
    alt_init_package: str = setting(
        "DIB_DEBIAN_ALT_INIT_PACKAGE",
        "",
        "the init package replacing sysvinit (default systemd-sysv; sysvinit up to wheezy)",
    )
    cloud_init_helper: str = setting(
        "DIB_DEBIAN_CLOUD_INIT_HELPER",
        "",
        "non-empty: a 'debian' user with passwordless sudo (default: set up to wheezy)",
    )


def init_package(settings: DebianSettings) -> str:
    """DIB_DEBIAN_ALT_INIT_PACKAGE, or the release's default."""
    default = "sysvinit" if settings.release in OLD_RELEASES else "systemd-sysv"
    return settings.alt_init_package or default


def cloud_init_helper(settings: DebianSettings) -> bool:
    """DIB_DEBIAN_CLOUD_INIT_HELPER, or the release's default."""
    return bool(settings.cloud_init_helper or settings.release in OLD_RELEASES)


@install_hook(order=10)
def cloud_opinions(ctx: BuildContext) -> None:
    """The init system, the 'debian' helper user on old releases, netplan on bookworm."""
    settings = ctx.settings(DebianSettings)
    if cloud_init_helper(settings):
        user = ["--gecos", "Debian-cloud-init-user", "--disabled-password", "--quiet", "debian"]
        ctx.chroot.run(["adduser", *user])
        make_dir(ctx.target_root, "etc/sudoers.d").chmod(0o755)  # install -d -m 0755
        write_file(
            ctx.target_root,
            "etc/sudoers.d/debian-cloud-init",
            "debian ALL=(ALL) NOPASSWD:ALL\n",
            0o440,
        )
    package = init_package(settings)
    if package != "sysvinit":
        ctx.chroot.run(["dpkg", "--purge", "--force", "remove-essential", "sysvinit"])
        ctx.chroot.run(["apt-get", "install", "-y", package])
        write_file(ctx.target_root, "etc/apt/preferences.d/sysvinit", SYSVINIT_PIN, 0o644)
    if settings.release in NETPLAN_RELEASES:
        ctx.chroot.run(["apt-get", "install", "-y", "netplan.io"])
