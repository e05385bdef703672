"""Checks the init system the distro element chose (DIB_INIT_SYSTEM) and installs the
init scripts elements ship for it."""
