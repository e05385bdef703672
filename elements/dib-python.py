"""A ``/usr/local/bin/dib-python`` interpreter link for build scripts, removed at cleanup.

The port of DIB's deprecated ``dib-python`` (every distribution has Python 3 now: in-chroot
scripts can use ``/usr/bin/python3``). In the pre-install phase ``/usr/local/bin/dib-python``
is linked to ``python$DIB_PYTHON_VERSION`` as found on the image's ``PATH``
(``/usr/libexec/platform-python`` on CentOS and RHEL); on Debian, with version 3,
``python3`` is installed first, as DIB does. The link is removed in the cleanup phase, so
the finished image keeps nothing of it but the package.

``DIB_PYTHON_VERSION`` defaults to ``3`` on every distribution, and ``DIB_PYTHON`` (the
interpreter's name for scripts, ``python3``) follows it: DIB 3.43 picks ``2`` on Debian,
where ``python2`` no longer exists and its build fails.
"""

import os

from dibpy import (
    BuildContext,
    BuildError,
    ElementSettings,
    SettingsError,
    apt,
    cleanup_hook,
    pre_install_hook,
    setting,
)
from dibpy.author import in_root, make_dirs, remove_file

ENVIRONMENT = {"DIB_PYTHON_VERSION": "3", "DIB_PYTHON": "python3"}
LINK = "usr/local/bin/dib-python"
# The PATH of DIB's chroot (and dibpy's), which ``command -v`` searched.
CHROOT_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
PLATFORM_PYTHON = "/usr/libexec/platform-python"


class DibPythonSettings(ElementSettings):
    version: str = setting("DIB_PYTHON_VERSION", "3", "the Python the link points at: 2 or 3")
    python: str = setting("DIB_PYTHON", "python3", "the interpreter's name, python$VERSION")
    distro: str = setting("DISTRO_NAME", "", "the distribution")


def find_python(ctx: BuildContext, name: str) -> str | None:
    """``command -v NAME`` in the tree: the first executable file on the chroot's PATH."""
    for directory in CHROOT_PATH:
        candidate = in_root(ctx.target_root, f"{directory}/{name}")
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return f"{directory}/{name}"
    return None


@pre_install_hook(order=1)
def dib_python(ctx: BuildContext) -> None:
    """Link /usr/local/bin/dib-python to the image's python$DIB_PYTHON_VERSION."""
    settings = ctx.settings(DibPythonSettings)
    name = f"python{settings.version}"
    if settings.python != name:
        raise SettingsError(
            f"DIB_PYTHON={settings.python} does not match DIB_PYTHON_VERSION="
            f"{settings.version}: set DIB_PYTHON={name} too, or leave both unset for python3."
        )
    if "centos" in settings.distro or "rhel" in settings.distro:
        path: str | None = PLATFORM_PYTHON
    else:
        if "debian" in settings.distro and settings.version == "3":
            apt.install(ctx, ["python3"])
        path = find_python(ctx, name)
    if path is None:
        raise BuildError(
            f"dib-python: there is no {name} on the image's PATH ({':'.join(CHROOT_PATH)}). "
            "Install it in an earlier phase, or set DIB_PYTHON_VERSION to the Python the "
            "image has."
        )
    make_dirs(ctx.target_root, "usr/local/bin")
    link = in_root(ctx.target_root, LINK, follow_final=False)
    if link.is_symlink() or link.exists():
        link.unlink()  # ln -sf
    link.symlink_to(path)


@cleanup_hook(order=50)
def remove_dib_python(ctx: BuildContext) -> None:
    """Remove the /usr/local/bin/dib-python link (nothing needs it after the build)."""
    remove_file(ctx.target_root, LINK)
