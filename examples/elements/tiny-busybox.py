"""A tiny operating system: a static busybox, set up in the chroot. Needs busybox-static.

This is the element a dibpy user writes: metadata, typed settings, and one hook per job.
`dibpy build -n -t tar --element-path examples/elements tiny-busybox` builds it.
"""

import shutil
from pathlib import Path

from dibpy import BuildContext, ElementSettings, finalise_hook, install_hook, root_hook, setting

PROVIDES = ["operating-system"]

BUSYBOX = Path("/bin/busybox")


class TinySettings(ElementSettings):
    greeting: str = setting("TINY_GREETING", "Welcome to tiny-busybox", "the /etc/motd line")
    uid: int = setting("TINY_UID", 1000, "uid of the user account the image gets")


@root_hook(order=10)
def create_tree(ctx: BuildContext) -> None:
    """Create the file system layout and put a static busybox in it."""
    root = ctx.target_root
    for folder in ("bin", "etc", "proc", "sys", "dev", "tmp", "root", "var/log", "home/user"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "tmp").chmod(0o1777)
    shutil.copy2(BUSYBOX, root / "bin/busybox")
    uid = ctx.settings(TinySettings).uid
    (root / "etc/passwd").write_text(
        f"root:x:0:0:root:/root:/bin/sh\nuser:x:{uid}:{uid}:user:/home/user:/bin/sh\n"
    )
    (root / "etc/group").write_text(f"root:x:0:\nuser:x:{uid}:\n")
    (root / "etc/os-release").write_text('NAME="tiny-busybox"\nID=tiny\n')


@install_hook(order=20)
def install_applets(ctx: BuildContext) -> None:
    """Install busybox's applet links and give the user their home, inside the chroot."""
    ctx.chroot.run(["/bin/busybox", "--install", "-s", "/bin"])
    uid = str(ctx.settings(TinySettings).uid)
    ctx.chroot.run(["/bin/chown", f"{uid}:{uid}", "/home/user"])
    kernel = ctx.chroot.run(["/bin/cat", "/proc/sys/kernel/ostype"], capture=True)
    (ctx.target_root / "etc/built-on").write_text(kernel.stdout)


@finalise_hook(order=50)
def write_motd(ctx: BuildContext) -> None:
    """Write /etc/motd and /etc/issue naming the image."""
    settings = ctx.settings(TinySettings)
    (ctx.target_root / "etc/motd").write_text(f"{settings.greeting}\n")
    (ctx.target_root / "etc/issue").write_text(f"{Path(ctx.image_name).name} ({ctx.arch})\n")
