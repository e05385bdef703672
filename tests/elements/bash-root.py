"""Test element: an operating system made in a second from the host's own bash and the
few tools legacy hooks and dibpy's driver use (env, find, grep, sort, ...), with the
libraries they link. Lets tests run legacy hooks in a real chroot without a debootstrap."""

import shutil
import subprocess
from pathlib import Path

from dibpy import BuildContext, root_hook

PROVIDES = ["operating-system"]
ENVIRONMENT = {"DISTRO_NAME": "debian", "DIB_RELEASE": "bookworm"}
TOOLS = (
    "bash", "sh", "env", "find", "grep", "sort", "cat", "echo", "mkdir", "ls", "chmod",
    "touch", "id", "cp", "rm", "ln", "sleep", "true", "false", "printf", "tr", "sed",
    "dirname", "basename", "install", "stat", "mktemp",
)  # fmt: skip


def _libraries(binary: Path) -> set[Path]:
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=False)
    found = set()
    for line in out.stdout.splitlines():
        for word in line.split():
            if word.startswith("/"):
                found.add(Path(word))
    return found


@root_hook(order=10)
def host_bash_tree(ctx: BuildContext) -> None:
    """Copy the host's tools and their libraries into an empty tree."""
    root = ctx.target_root
    for folder in ("bin", "etc", "tmp", "proc", "sys", "dev", "root", "usr/local/bin"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "tmp").chmod(0o1777)
    files: set[Path] = set()
    for tool in TOOLS:
        found = shutil.which(tool, path="/usr/bin:/bin")
        if found is None:
            raise RuntimeError(f"bash-root needs {tool} on the host")
        files.add(Path(found).resolve())
        (root / "bin" / tool).parent.mkdir(parents=True, exist_ok=True)
    for binary in list(files):
        files |= _libraries(binary)
    for path in files:
        destination = root / path.relative_to("/")
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, destination)
    for tool in TOOLS:
        real = Path(shutil.which(tool, path="/usr/bin:/bin") or tool).resolve()
        link = root / "bin" / tool
        if not link.exists():
            link.symlink_to(real)
    for folder in ("usr/bin", "usr/sbin", "sbin"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (root / "etc/group").write_text("root:x:0:\n")
