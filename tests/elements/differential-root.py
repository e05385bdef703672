"""Test element for the differential tests (tests/differential.py): bash-root made ready for
DIB's small elements, with ``differential-snapshots`` recording the tree after every phase.

The tree gets what a real Debian or Ubuntu tree has and DIB's scripts expect:
``/etc/selinux`` (libsemanage-common's), ``/etc/init`` and an ``/etc/inittab`` with
commented serial gettys (for the upstart and openrc paths), udev's
``80-net-name-slot.rules`` disabled by a link to /dev/null, a ``python3`` on the PATH (a
stand-in script: ``command -v`` only has to find it), and an ``apt-get`` stand-in that
records the packages it is asked to install as installed in ``/var/lib/dpkg/status``, so
the package sets of two builds can be compared.
"""

from dibpy import BuildContext, root_hook

DEPENDS = ["bash-root", "differential-snapshots"]


APT_GET = """#!/bin/bash
# apt-get stand-in: the names after "install" are recorded as installed (options skipped).
set -eu
mkdir -p /var/lib/dpkg
installing=0
for word in "$@"; do
    case $word in
        install) installing=1 ;;
        -*) ;;
        *) if [ $installing = 1 ]; then
               printf 'Package: %s\\nStatus: install ok installed\\n\\n' "$word" \\
                   >> /var/lib/dpkg/status
           fi ;;
    esac
done
"""


INITTAB = """\
id:3:initdefault:
#s0:12345:respawn:/sbin/agetty -L 115200 ttyS0 vt100
#s1:12345:respawn:/sbin/agetty -L 115200 ttyS1 vt100
#c2:2345:respawn:/sbin/agetty 38400 tty2 linux
"""


@root_hook(order=20)
def ready_for_dib(ctx: BuildContext) -> None:
    """What DIB's scripts expect of a tree, and apt-get and python3 stand-ins."""
    root = ctx.target_root
    for folder in ("etc/selinux", "etc/init", "etc/udev/rules.d"):
        (root / folder).mkdir(mode=0o755, parents=True)
    (root / "etc/inittab").write_text(INITTAB)
    (root / "etc/udev/rules.d/80-net-name-slot.rules").symlink_to("/dev/null")
    for name, text in (("python3", "#!/bin/sh\nexit 0\n"), ("apt-get", APT_GET)):
        program = ctx.target_root / "usr/bin" / name
        program.write_text(text)
        program.chmod(0o755)
