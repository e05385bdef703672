"""Creates a user for development and debugging, with your ssh key, a password or sudo if asked.

The port of DIB's ``devuser``. Install 50, in the image:

- ``useradd -m DIB_DEV_USER_USERNAME`` (with ``-s DIB_DEV_USER_SHELL`` when set; the shell's
  package is not installed), then ``usermod -a -G DIB_DEV_USER_GROUPS`` when set (the
  groups must exist);
- ``DIB_DEV_USER_PASSWORD``: the password, through ``chpasswd`` (never on a command line);
- ``DIB_DEV_USER_PWDLESS_SUDO``: ``/etc/sudoers.d/USER`` (mode 0440) lets the user run
  anything with sudo and no password; removed again if ``visudo -c`` rejects the sudoers;
- ``/home/USER/.ssh/authorized_keys``: the file ``DIB_DEV_USER_AUTHORIZED_KEYS``, or when
  that is unset the building user's ``~/.ssh/id_rsa.pub`` (else ``id_dsa.pub``); a path
  that is no regular file (``/dev/null``) gives the user no key;
- the user's home is chowned to the user.

``sudo`` is installed. Difference from DIB: ``DIB_DEV_USER_PWDLESS_SUDO`` is a yes/no value
(``0``/``no``/``false`` turn sudo off, where any non-empty value turned it on in DIB), and
a user name that ``useradd`` would not take is refused before the build.
"""

import logging
import re
from pathlib import Path

from pydantic import field_validator

from dibpy import BuildContext, ElementSettings, install_hook, setting
from dibpy.author import make_dirs, remove_file, write_file

log = logging.getLogger("dibpy.elements.devuser")

DEPENDS = ["package-installs"]
PACKAGES = {"sudo": None}
PKG_MAP = {"family": {"gentoo": {"sudo": "app-admin/sudo"}}}
USER_NAME = re.compile(r"[a-z_][a-z0-9_-]*\$?")


class DevUserSettings(ElementSettings):
    username: str = setting("DIB_DEV_USER_USERNAME", "devuser", "the user's name")
    groups: str = setting(
        "DIB_DEV_USER_GROUPS", "", "more groups for the user, comma-separated (they must exist)"
    )
    shell: str = setting(
        "DIB_DEV_USER_SHELL", "", "the user's shell, a full path (default: useradd's)"
    )
    pwdless_sudo: bool = setting(
        "DIB_DEV_USER_PWDLESS_SUDO", False, "yes: the user may sudo anything without a password"
    )
    authorized_keys: str = setting(
        "DIB_DEV_USER_AUTHORIZED_KEYS",
        "",
        "a file of ssh public keys for the user's authorized_keys (default: the building "
        "user's ~/.ssh/id_rsa.pub or id_dsa.pub; /dev/null for none)",
    )
    password: str = setting(
        "DIB_DEV_USER_PASSWORD", "", "the user's password (insecure: it is in the image)"
    )
    home: str = setting("HOME", "", "the building user's home, for the default public key")

    @field_validator("username")
    @classmethod
    def _a_user_name(cls, value: str) -> str:
        if not USER_NAME.fullmatch(value):
            raise ValueError(
                "not a user name: use lower-case letters, digits, '_' and '-', "
                "starting with a letter or '_'"
            )
        return value


def public_keys(settings: DevUserSettings) -> str | None:
    """The keys for authorized_keys (DIB's extra-data.d/50-devuser), or None for no file."""
    if settings.authorized_keys:
        candidates = [Path(settings.authorized_keys)]
    else:
        home = Path(settings.home) if settings.home else None
        candidates = [home / ".ssh/id_rsa.pub", home / ".ssh/id_dsa.pub"] if home else []
    for candidate in candidates:
        if candidate.is_file():
            return candidate.read_text()
    return None


@install_hook(order=50)
def devuser(ctx: BuildContext) -> None:
    """Create the user, with its groups, password, sudo rule and authorized ssh keys."""
    settings = ctx.settings(DevUserSettings)
    user = settings.username
    shell = ["-s", settings.shell] if settings.shell else []
    with ctx.chroot.session():
        ctx.chroot.run(["useradd", "-m", user, *shell])
        if settings.groups:
            ctx.chroot.run(["usermod", "-a", "-G", settings.groups, user])
        if settings.password:
            ctx.chroot.run(["chpasswd"], input=f"{user}:{settings.password}\n")
        if settings.pwdless_sudo:
            allow_sudo(ctx, user)
        keys = public_keys(settings)
        if keys is not None:
            make_dirs(ctx.target_root, f"home/{user}/.ssh")
            write_file(ctx.target_root, f"home/{user}/.ssh/authorized_keys", keys)
        ctx.chroot.run(["chown", "-R", f"{user}:{user}", f"/home/{user}"])


def allow_sudo(ctx: BuildContext, user: str) -> None:
    """``/etc/sudoers.d/USER``: passwordless sudo; removed if visudo finds the sudoers bad."""
    sudoers_d, created = make_dirs(ctx.target_root, "etc/sudoers.d")
    if created:  # made by root, as root's
        sudoers_d.chmod(0o750)
    write_file(
        ctx.target_root, f"etc/sudoers.d/{user}", f"{user} ALL=(ALL) NOPASSWD:ALL\n", mode=0o440
    )
    if ctx.chroot.run(["visudo", "-c"], check=False).returncode != 0:
        log.warning("visudo -c rejects the sudoers: /etc/sudoers.d/%s removed again", user)
        remove_file(ctx.target_root, f"etc/sudoers.d/{user}")
