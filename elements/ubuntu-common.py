"""What both Ubuntu flavours share: distro name, init system, IPv6 privacy addresses off,
apt autoremove."""

DEPENDS = ["sysprep"]
