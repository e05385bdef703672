"""Blacklists the nouveau kernel module, for NVIDIA's drivers and GPU passthrough.

The port of DIB's ``disable-nouveau``: its ``modprobe.d/disable-nouveau.conf``
(``blacklist nouveau``, ``options nouveau modeset=0``) is copied into ``/etc/modprobe.d`` by
the modprobe element, and its ``dracut.conf.d/disable-nouveau.conf`` (``omit_drivers``) is
there for an initramfs element that reads the elements' ``dracut.conf.d/``, as DIB's
``dracut-regenerate`` does. No hooks and no variables of its own.
"""

DEPENDS = ["modprobe"]
