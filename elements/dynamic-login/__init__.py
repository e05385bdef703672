"""Lets the operator set root's password or ssh key at boot, on the kernel command line.

The port of DIB's ``dynamic-login``, for troubleshooting images (ramdisks above all) that
have no login: ``static/usr/local/bin/dynamic-login`` (installed by install-static) reads
``/proc/cmdline`` at boot and

- ``rootpwd="HASH"`` sets root's password to that crypt hash (base64-encoded, or as is when
  it starts with ``$``), e.g. ``openssl passwd -6 -stdin <<< PASSWORD | base64 -w 0``;
- ``sshkey="ssh-ed25519 AAAA..."`` writes that key to ``/root/.ssh/authorized_keys``.

``init-scripts/`` run it at boot (systemd unit, sysv and upstart scripts; installed by
dib-init-system), and install 70 enables it: ``systemctl enable dynamic-login.service``
(systemd) or ``update-rc.d dynamic-login.init defaults`` (sysv). Depends on openssh-server.
No variables of its own.
"""

from typing import Literal

from dibpy import BuildContext, ElementSettings, install_hook, setting

DEPENDS = ["dib-init-system", "install-static", "openssh-server"]


class DynamicLoginSettings(ElementSettings):
    init_system: Literal["upstart", "openrc", "systemd", "sysv"] = setting(
        "DIB_INIT_SYSTEM", "systemd", "the image's init system"
    )


@install_hook(order=70)
def enable_dynamic_login_services(ctx: BuildContext) -> None:
    """Enable dynamic-login at boot (systemd, sysv)."""
    init_system = ctx.settings(DynamicLoginSettings).init_system
    if init_system == "systemd":
        ctx.chroot.run(["systemctl", "enable", "dynamic-login.service"])
    elif init_system == "sysv":
        ctx.chroot.run(["update-rc.d", "dynamic-login.init", "defaults"])
