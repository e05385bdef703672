"""Checks the init system the distro element chose (DIB_INIT_SYSTEM): one of upstart, openrc,
systemd, sysv. dibpy validates it before the build starts; DIB's deprecated
/usr/local/bin/dib-init-system helper is not installed."""

from typing import Literal

from dibpy import ElementSettings, setting


class InitSystemSettings(ElementSettings):
    init_system: Literal["upstart", "openrc", "systemd", "sysv"] = setting(
        "DIB_INIT_SYSTEM", "systemd", "the image's init system"
    )
