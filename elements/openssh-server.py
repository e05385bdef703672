"""Installs the OpenSSH server, enables it at boot and hardens its ciphers, MACs and key exchange.

The port of DIB's ``openssh-server``, which *-minimal images need to be reached over ssh:

- the ``openssh-server`` package (``openssh`` on SUSE and Gentoo);
- post-install 80 enables the service by ``DIB_INIT_SYSTEM``: systemd ``systemctl enable
  ssh.service`` on Debian and Ubuntu, ``sshd.service`` elsewhere; openrc ``rc-update add
  sshd default``; nothing for upstart and sysv, which start it already;
- post-install 99, unless ``DIB_OPENSSH_SERVER_HARDENING`` is ``0``, sets ``KexAlgorithms``,
  ``Ciphers`` and ``MACs`` in ``/etc/ssh/sshd_config`` to Mozilla's modern choice
  (https://infosec.mozilla.org/guidelines/openssh): a line of the keyword is replaced, or
  the setting is added after the ``# Ciphers and keying`` comment, as DIB's sed does.

Depends on ``runtime-ssh-host-keys``, so the image carries no host keys and makes its own
at first boot.
"""

import re
from typing import Literal

from dibpy import BuildContext, ElementSettings, post_install_hook, setting
from dibpy.author import in_root, write_file

DEPENDS = ["dib-init-system", "package-installs", "runtime-ssh-host-keys"]
PACKAGES = {"openssh-server": None}
PKG_MAP = {
    "family": {"suse": {"openssh-server": "openssh"}, "gentoo": {"openssh-server": "openssh"}}
}
SSHD_CONFIG = "etc/ssh/sshd_config"
ANCHOR = "# Ciphers and keying"
# Added in this order, each right after the anchor: the file ends up with KexAlgorithms,
# Ciphers, MACs (DIB's order).
HARDENED = (
    (
        "MACs",
        "MACs hmac-sha2-512-etm@openssh.com,hmac-sha2-256-etm@openssh.com,"
        "umac-128-etm@openssh.com,hmac-sha2-512,hmac-sha2-256,umac-128@openssh.com",
    ),
    (
        "Ciphers",
        "Ciphers chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com,"
        "aes256-ctr,aes192-ctr,aes128-ctr",
    ),
    (
        "KexAlgorithms",
        "KexAlgorithms curve25519-sha256@libssh.org,ecdh-sha2-nistp521,ecdh-sha2-nistp384,"
        "ecdh-sha2-nistp256,diffie-hellman-group-exchange-sha256",
    ),
)


class OpensshServerSettings(ElementSettings):
    init_system: Literal["upstart", "openrc", "systemd", "sysv"] = setting(
        "DIB_INIT_SYSTEM", "systemd", "the image's init system"
    )
    distro: str = setting("DISTRO_NAME", "", "the distribution: the service is ssh on Debian")
    hardening: int = setting(
        "DIB_OPENSSH_SERVER_HARDENING",
        1,
        "1: set sshd's KexAlgorithms, Ciphers and MACs to Mozilla's modern list; 0: leave them",
    )


def hardened(config: str) -> str:
    """``sshd_config`` with the hardened settings, as DIB's three ``grep``/``sed`` pairs make
    it: a setting already there unchanged; a line of the keyword with other values replaced;
    else the setting added after each ``# Ciphers and keying`` line."""
    for keyword, line in HARDENED:
        if not re.search(rf"^{keyword}", config, re.MULTILINE):
            config = re.sub(f"^(.*{ANCHOR}.*\n)", rf"\g<1>{line}\n", config, flags=re.MULTILINE)
        elif not re.search(line, config):  # grep -E: the line is a pattern ('.' and all)
            config = re.sub(rf"^{keyword}.*$", line, config, flags=re.MULTILINE)
    return config


@post_install_hook(order=80)
def enable_sshd_service(ctx: BuildContext) -> None:
    """Enable the ssh service for the image's init system."""
    settings = ctx.settings(OpensshServerSettings)
    if settings.init_system == "systemd":
        service = "ssh.service" if settings.distro in ("ubuntu", "debian") else "sshd.service"
        ctx.chroot.run(["systemctl", "enable", service])
    elif settings.init_system == "openrc":
        ctx.chroot.run(["rc-update", "add", "sshd", "default"])


@post_install_hook(order=99)
def harden_sshd_config(ctx: BuildContext) -> None:
    """Set KexAlgorithms, Ciphers and MACs in /etc/ssh/sshd_config (unless turned off)."""
    if ctx.settings(OpensshServerSettings).hardening != 1:
        return
    config = in_root(ctx.target_root, SSHD_CONFIG)
    mode = config.stat().st_mode & 0o7777
    write_file(ctx.target_root, SSHD_CONFIG, hardened(config.read_text()), mode=mode)
