"""Generates the SSH host keys at first boot, so that no two machines share the image's.

The port of DIB's ``runtime-ssh-host-keys`` (Debian and Ubuntu; systemd and upstart):

- ``static/usr/local/sbin/runtime-ssh-host-keys.sh`` (installed by install-static) makes each
  missing ``/etc/ssh/ssh_host_{dsa,ecdsa,ed25519,rsa}_key``, never overwriting one (glean
  may be writing them at the same time);
- ``init-scripts/``: the systemd unit ``ssh-keygen.service`` runs it before ``ssh.service``,
  the upstart job ``ssh-keygen`` when ssh starts (installed by dib-init-system);
- post-install 80, systemd: ``systemctl enable ssh-keygen.service`` on Debian and Ubuntu;
  on other distributions the unit is removed again;
- cleanup 90 deletes every regular file named ``ssh_host*`` under ``/etc/ssh``: the keys the
  openssh-server package made while the image was built.

``openssh-client`` (``ssh-keygen``) is installed. No variables of its own.
"""

import os
from pathlib import Path
from typing import Literal

from dibpy import (
    BuildContext,
    BuildError,
    ElementSettings,
    cleanup_hook,
    post_install_hook,
    setting,
)
from dibpy.author import in_root, remove_file

DEPENDS = ["dib-init-system", "install-static", "package-installs"]
PACKAGES = {"openssh-client": None}
PKG_MAP = {
    "family": {
        "redhat": {"openssh-client": "openssh"},
        "gentoo": {"openssh-client": ""},
        "suse": {"openssh-client": "openssh"},
    }
}
UNIT = "usr/lib/systemd/system/ssh-keygen.service"


class HostKeySettings(ElementSettings):
    init_system: Literal["upstart", "openrc", "systemd", "sysv"] = setting(
        "DIB_INIT_SYSTEM", "systemd", "the image's init system"
    )
    distro: str = setting("DISTRO_NAME", "", "the distribution: the unit is kept on Debian, Ubuntu")


def host_key_files(ssh_dir: Path) -> list[Path]:
    """``find DIR -name 'ssh_host*' -type f``: regular files (not links) at any depth."""
    found = []
    for here, _, files in os.walk(ssh_dir):
        for name in files:
            path = Path(here) / name
            if name.startswith("ssh_host") and path.is_file() and not path.is_symlink():
                found.append(path)
    return sorted(found)


@post_install_hook(order=80)
def ssh_keygen(ctx: BuildContext) -> None:
    """systemd: enable ssh-keygen.service (Debian, Ubuntu), or remove it (elsewhere)."""
    settings = ctx.settings(HostKeySettings)
    if settings.init_system != "systemd":
        return
    if settings.distro in ("ubuntu", "debian"):
        ctx.chroot.run(["systemctl", "enable", "ssh-keygen.service"])
    elif not remove_file(ctx.target_root, UNIT):
        raise BuildError(
            f"runtime-ssh-host-keys: /{UNIT} is not in the image, so it cannot be removed "
            "(DIB's rm fails here too). dib-init-system installs it from init-scripts/systemd: "
            "check that DIB_INIT_SYSTEM is the image's init system."
        )


@cleanup_hook(order=90)
def remove_ssh_host_keys(ctx: BuildContext) -> None:
    """Delete the host keys made while the image was built."""
    ssh_dir = in_root(ctx.target_root, "etc/ssh")
    if ssh_dir.is_dir():
        for key in host_key_files(ssh_dir):
            key.unlink()
