"""Run one legacy hook script the way DIB runs it: on the host or in the chroot, after the
merged ``environment.d`` is sourced, with the variables DIB exports.

The script runs from the merged hooks tree (``ctx.hooks_path``), not from its element's
folder, so ``$(dirname $0)/../static`` finds every element's files as it does under DIB.
In-chroot phases see that tree read-only at ``/tmp/in_target.d``, mounted for the hook.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import yaml

from dibpy.errors import BuildError, CommandError
from dibpy.phases import Phase

if TYPE_CHECKING:
    from dibpy.building.context import BuildContext

log = logging.getLogger("dibpy.legacy")

DRIVER = "dibpy-run-hook"
DRIVER_FILE = Path(__file__).with_name(DRIVER)
IN_TARGET = "/tmp/in_target.d"  # noqa: S108 (a path in the image, as in DIB)
HOST_BIN = Path(__file__).with_name("host-bin")
HOST_SBIN = ("/sbin", "/usr/sbin", "/usr/local/sbin")
# Host variables a chroot must not inherit (DIB runs `env -u TMPDIR -u VIRTUAL_ENV`), and
# dibpy's own Python settings, which mean nothing to a shell script.
NOT_IN_CHROOT = ("TMPDIR", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "LD_PRELOAD", "OLDPWD", "PWD")


class LegacyScriptFailed(BuildError):
    """A legacy hook script exited non-zero; the message names it and shows its output."""


@dataclass(frozen=True)
class LegacyScript:
    """The hook function of one script: ``PHASE.d/SCRIPT`` of ``element``.

    ``install_type`` is ``(prefix, type, folder)`` for a script of
    ``install.d/<prefix>-<type>-install/``: it runs only when install-types linked it into
    ``install.d`` (the type chosen with ``DIB_INSTALLTYPE_<prefix>`` or
    ``DIB_DEFAULT_INSTALLTYPE``).
    """

    CHROOT_PHASES: ClassVar[frozenset[Phase]] = frozenset(
        {Phase.PRE_INSTALL, Phase.INSTALL, Phase.POST_INSTALL, Phase.FINALISE}
    )

    element: str
    phase: Phase
    script: str
    install_type: tuple[str, str, str] | None = None

    @property
    def relative_path(self) -> str:
        """The script's path in the hooks tree."""
        return f"{self.phase.value}.d/{self.script}"

    def __call__(self, ctx: BuildContext) -> None:
        if self.phase is Phase.BLOCK_DEVICE:
            raise LegacyScriptFailed(unsupported_block_device(self.element, self.script))
        if self.install_type is not None and not self._chosen(ctx.hooks_path):
            log.info(
                "Skipping %s of %s: install type %r was not chosen for %r",
                self.script,
                self.element,
                self.install_type[1],
                self.install_type[0],
            )
            return
        in_chroot = self.phase in self.CHROOT_PHASES
        try:
            if in_chroot:
                with hooks_in_target(ctx):
                    env = phase_environment(ctx, self.phase)
                    ctx.chroot.run(
                        [f"{IN_TARGET}/{DRIVER}", "--sourced", IN_TARGET, *self._args()],
                        env=env,
                    )
            else:
                env = phase_environment(ctx, self.phase)
                hooks = ctx.hooks_path
                ctx.run([hooks / DRIVER, "--sourced", hooks, *self._args()], env=env)
        except CommandError as exc:
            where = "in the chroot" if in_chroot else "on the host"
            raise LegacyScriptFailed(
                f"the legacy script {self.relative_path} of element {self.element!r}, run "
                f"{where}, {_status(exc)}.{_tail(exc)}"
            ) from None

    def _args(self) -> list[str]:
        return [self.phase.value, self.script]

    def _chosen(self, hooks: Path) -> bool:
        assert self.install_type is not None  # noqa: S101 (narrows for mypy)
        link = hooks / "install.d" / self.script
        return link.is_symlink() and Path(os.readlink(link)).parts[:1] == (self.install_type[2],)


def unsupported_block_device(element: str, script: str) -> str:
    """Why a legacy block-device.d hook cannot run under dibpy."""
    return (
        f"Element {element!r} has the legacy hook block-device.d/{script}. dibpy makes disks "
        "without loop devices or mounts, so a script that expects a mounted disk or a "
        "loop device (or prints IMAGE_BLOCK_DEVICE=) cannot run. Describe the layout with "
        "DIB_BLOCK_DEVICE_CONFIG or a block-device-*.yaml in the element instead, or port "
        "the hook to Python (see docs/migrating.md)."
    )


def script_environment(ctx: BuildContext, phase: Phase, *, in_chroot: bool) -> dict[str, str]:
    """The environment of a legacy hook: the build's snapshot, then what DIB exports."""
    env = dict(ctx.env)
    hooks = ctx.hooks_path
    element_dirs = {name: str(path) for name, path in ctx.element_dirs.items()}
    env.update(
        {
            "ARCH": ctx.arch,
            "IMAGE_NAME": ctx.image_name,
            "IMAGE_ELEMENT": " ".join(ctx.elements),
            "IMAGE_ELEMENT_YAML": _yaml_mapping(element_dirs),
            "DIBPY_IMAGE_ELEMENT_ARRAY": " ".join(f"[{k}]={v}" for k, v in element_dirs.items()),
            "ELEMENTS_PATH": _elements_path(env.get("ELEMENTS_PATH", ""), element_dirs),
            "TMP_BUILD_DIR": str(ctx.build_dir),
            "TMP_MOUNT_PATH": str(ctx.target_root),
            "TMP_HOOKS_PATH": str(hooks),
            "TMP_IMAGE_DIR": str(ctx.build_dir),
            "DIB_IMAGE_CACHE": str(ctx.image_cache),
            "DIB_DEBUG_TRACE": str(ctx.debug_trace),
            "DIB_INIT_SYSTEM": env.get("DIB_INIT_SYSTEM") or "systemd",
            "DIB_PYTHON_EXEC": sys.executable,
            "_LIB": str(lib_dir()),
            "LC_ALL": "C",  # DIB's driver exports LC_ALL=C for every hook
        }
    )
    # DIB's common-defaults exports it, empty when online: scripts with `set -u` read it
    env["DIB_OFFLINE"] = "1" if ctx.offline else ""
    if phase is not Phase.ROOT:  # DIB writes it into environment.d once root.d is done
        env["DIB_DEFAULT_INSTALLTYPE"] = env.get("DIB_DEFAULT_INSTALLTYPE") or "source"
    if phase in (Phase.ROOT, Phase.CLEANUP):
        env["TARGET_ROOT"] = str(ctx.target_root)
    else:
        env.pop("TARGET_ROOT", None)
    if in_chroot:
        for name in NOT_IN_CHROOT:
            env.pop(name, None)
        from dibpy.host.chroot import CHROOT_ENV  # the build machinery, not planning's

        env.update({k: CHROOT_ENV[k] for k in ("PATH", "HOME")})
    else:
        env["PATH"] = _host_path(env.get("PATH", os.defpath))
    return env


def phase_environment(ctx: BuildContext, phase: Phase, *, on_host: bool = False) -> dict[str, str]:
    """What the legacy hooks of ``phase`` run with: environment.d sourced once per phase, as
    dib-run-parts does (a file that runs ``mktemp`` makes one file per phase, not per
    script). In-chroot phases source inside the chroot, so /tmp/in_target.d must be mounted,
    unless ``on_host`` (for Python code deciding as DIB's shell would: package-installs'
    ``when``, install-types). The result is kept in the build directory,
    ``legacy-env/PHASE[.host].json``, for the phase's other hooks and for reading after a
    kept build."""
    in_chroot = phase in LegacyScript.CHROOT_PHASES and not on_host
    suffix = ".host" if on_host and phase in LegacyScript.CHROOT_PHASES else ""
    saved = ctx.build_dir / "legacy-env" / f"{phase.value}{suffix}.json"
    if saved.is_file():
        loaded: dict[str, str] = json.loads(saved.read_text())
        return loaded
    env = script_environment(ctx, phase, in_chroot=in_chroot)
    try:
        if in_chroot:
            result = ctx.chroot.run(
                [f"{IN_TARGET}/{DRIVER}", "--print-env", IN_TARGET], env=env, capture=True
            )
        else:
            hooks = ctx.hooks_path
            result = ctx.run([hooks / DRIVER, "--print-env", hooks], env=env, capture=True)
    except CommandError as exc:
        raise LegacyScriptFailed(
            f"sourcing the environment.d files of the legacy elements for the {phase} phase "
            f"{_status(exc)}.{_tail(exc)}"
        ) from None
    sourced = parse_printed_environment(result.stdout)
    saved.parent.mkdir(exist_ok=True)
    saved.write_text(json.dumps(sourced))
    return sourced


def parse_printed_environment(text: str) -> dict[str, str]:
    """The variables of ``env -0`` output (what ``dibpy-run-hook --print-env`` prints)."""
    pairs = (item.partition("=") for item in text.split("\0") if "=" in item)
    return {name: value for name, _, value in pairs}


def _status(exc: CommandError) -> str:
    if exc.returncode < 0:
        return f"was killed by signal {-exc.returncode}"
    return f"exited with status {exc.returncode}"


def _tail(exc: CommandError) -> str:
    return f" Its last output lines:\n{exc.output_tail}" if exc.output_tail else ""


@contextmanager
def hooks_in_target(ctx: BuildContext) -> Iterator[None]:
    """The hooks tree bind-mounted read-only at /tmp/in_target.d while a hook runs."""
    with ExitStack() as removal, ctx.mounts.scope() as scope:
        target = scope.bind(ctx.hooks_path, IN_TARGET, read_only=True)
        removal.callback(target.rmdir)  # once it is unmounted
        yield


def install_driver(hooks: Path) -> None:
    """Put the driver at the top of the hooks tree (over any element file of that name)."""
    destination = hooks / DRIVER
    destination.unlink(missing_ok=True)
    shutil.copyfile(DRIVER_FILE, destination)
    destination.chmod(0o755)


def lib_dir() -> Path:
    """What ``$_LIB`` points at: dibpy's own versions of DIB's shell libraries."""
    return Path(__file__).with_name("lib")


def _host_path(path: str) -> str:
    """dibpy's host stand-ins first (``sudo``, which DIB's host scripts call and dibpy, as
    root, does not need), then the host PATH with /sbin, /usr/sbin and /usr/local/sbin added
    when missing, as DIB adds them."""
    entries = [p for p in path.split(":") if p and p != str(HOST_BIN)]
    return ":".join([str(HOST_BIN), *entries, *(p for p in HOST_SBIN if p not in entries)])


def _elements_path(user: str, element_dirs: Mapping[str, str]) -> str:
    """ELEMENTS_PATH as DIB exports it: the user's entries, then every folder the build's
    elements came from."""
    entries = [p for p in user.split(":") if p]
    for path in element_dirs.values():
        parent = str(Path(path).parent)
        if parent not in entries:
            entries.append(parent)
    return ":".join(entries)


def _yaml_mapping(mapping: Mapping[str, str]) -> str:
    return yaml.safe_dump(dict(mapping), default_flow_style=False, sort_keys=False)
