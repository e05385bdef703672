"""Installs the helper programs elements ship in `bin/` into the image's /usr/local/bin.

DIB's `install-bin`: every file of the merged `bin/` folder of the hooks tree (every
element's `bin/`, legacy or Python package) is installed as `/usr/local/bin/NAME`, mode
0755, owned by root, as `install -m 0755 -o root -g root` does. The programs stay in the
final image (`install-packages`, `pkg-map`, `cache-url` ... of legacy elements).

Names starting with `.` are left out (DIB's `bin/*` glob). A symlink in `bin/` is installed
as the file it points to, as `install` does, when that file is in the hooks tree; one
pointing elsewhere is refused (DIB would have read it inside the image). A build without a
`bin/` folder installs nothing.
"""

import logging
import os
from pathlib import Path

from dibpy import BuildContext, BuildError, pre_install_hook
from dibpy.author import install_file

log = logging.getLogger("dibpy.elements.install-bin")

DESTINATION = "/usr/local/bin"


def bin_programs(hooks: Path) -> list[Path]:
    """The files of ``hooks/bin`` to install, by name; a symlink resolved in ``hooks``."""
    folder = hooks / "bin"
    if not folder.is_dir() or folder.is_symlink():
        return []
    top = Path(os.path.realpath(hooks))
    programs = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        real = Path(os.path.realpath(entry))
        if entry.is_symlink() and not real.is_relative_to(top):
            raise BuildError(
                f"bin/{entry.name} of the hooks tree is a symlink to {os.readlink(entry)}, "
                "outside the elements' files; install-bin installs only files the elements "
                "ship. Put the program itself into the element's bin/ folder."
            )
        if real.is_dir():
            log.warning("Not installing bin/%s: it is a directory", entry.name)
            continue
        if not real.is_file():
            raise BuildError(
                f"bin/{entry.name} of the hooks tree is not a file (a broken symlink?); "
                "install-bin cannot install it."
            )
        programs.append(entry)
    return programs


@pre_install_hook(order=1)
def install_bin(ctx: BuildContext) -> None:
    """Install every file of the elements' bin/ folders into /usr/local/bin (0755, root)."""
    for program in bin_programs(ctx.hooks_path):
        install_file(ctx.target_root, program, f"{DESTINATION}/{program.name}", 0o755)
        log.info("Installed %s/%s", DESTINATION, program.name)
