"""Puts SELinux into permissive mode: ``/etc/selinux/config`` says ``SELINUX=permissive``.

The port of DIB's ``selinux-permissive``, for debugging SELinux problems; the ironic
ramdisk pulls it in on every distribution. It writes ``SELINUX=permissive`` and
``SELINUXTYPE=targeted`` in the pre-install phase, keeping the mode of a config already
there. Where the tree has no ``/etc/selinux`` (DIB's script fails there), the directory is
made. No variables.
"""

import stat

from dibpy import BuildContext, pre_install_hook
from dibpy.author import in_root, make_dirs, write_file

CONFIG = "etc/selinux/config"


@pre_install_hook(order=11)
def selinux_permissive(ctx: BuildContext) -> None:
    """Write /etc/selinux/config in permissive mode."""
    make_dirs(ctx.target_root, "etc/selinux")
    existing = in_root(ctx.target_root, CONFIG)
    mode = stat.S_IMODE(existing.stat().st_mode) if existing.is_file() else 0o644
    write_file(ctx.target_root, CONFIG, "SELINUX=permissive\nSELINUXTYPE=targeted\n", mode)
