"""What both Ubuntu flavours share: distro name, release, init system, IPv6 privacy
addresses off, apt autoremove."""

DEPENDS = ["sysprep"]
ENVIRONMENT = {
    "DISTRO_NAME": "ubuntu",
    "DIB_RELEASE": "noble",
    "DIB_DEBIAN_COMPONENTS": "main,universe",
    "DIB_INIT_SYSTEM": "systemd",
    "EFI_BOOT_DIR": "EFI/ubuntu",
}
