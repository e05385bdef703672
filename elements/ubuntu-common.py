"""What both Ubuntu flavours share: distro name, release, init system, IPv6 privacy
addresses off, apt autoremove."""

from dibpy import BuildContext, apt, install_hook, post_install_hook
from dibpy.author import write_file

DEPENDS = ["sysprep"]
ENVIRONMENT = {
    "DISTRO_NAME": "ubuntu",
    "DIB_RELEASE": "noble",
    "DIB_DEBIAN_COMPONENTS": "main,universe",
    "DIB_INIT_SYSTEM": "systemd",
    "EFI_BOOT_DIR": "EFI/ubuntu",
}

IPV6_TEMPADDR_OFF = "net.ipv6.conf.all.use_tempaddr = 0\nnet.ipv6.conf.default.use_tempaddr = 0\n"


@install_hook(order=80)
def disable_rfc3041(ctx: BuildContext) -> None:
    """No IPv6 privacy (temporary) addresses: servers want stable addresses."""
    write_file(ctx.target_root, "etc/sysctl.d/99-cloudimg-ipv6.conf", IPV6_TEMPADDR_OFF)


@post_install_hook(order=99)
def autoremove(ctx: BuildContext) -> None:
    """apt-get autoremove."""
    apt.apt_get(ctx, "autoremove")
