"""What the legacy elements' ``environment.d`` files export, for the whole build.

Under DIB every hook, whatever its element, sees what any element's environment.d exports:
DIB's ``debian`` element forces ``DIB_RELEASE=stable`` for the Python ``debian-minimal`` as
much as for shell scripts. So before a build starts, dibpy sources every environment.d file
once on the host (with DIB's order and ``set -u``) and lays the variables they changed over
the build's environment. Python hooks and element settings then see them; legacy hooks
still source the files again in every phase, as dib-run-parts does. A file that fails
(``exit 1`` on a bad setting, an unset variable) is bad input, reported before anything is
made.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from dibpy.elements.model import Element
from dibpy.errors import CommandError, InputError
from dibpy.host.run import Runner
from dibpy.legacy.script import DRIVER, install_driver, parse_printed_environment

# Variables bash itself sets, which say nothing about the build.
SHELL_VARIABLES = frozenset({"SHLVL", "_", "PWD", "OLDPWD", "TMPDIR"})


def environment_files(elements: Iterable[Element]) -> list[Path]:
    """Every element's environment.d files; a name already taken by an earlier element is
    skipped (DIB refuses such duplicates when it merges the hooks tree)."""
    found: dict[str, Path] = {}
    for element in elements:
        folder = element.data_dir / "environment.d" if element.data_dir else None
        if folder is None or not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.is_file() and path.name not in found:
                found[path.name] = path
    return list(found.values())


def exported_variables(
    elements: Iterable[Element],
    env: Mapping[str, str],
    runner: Runner,
    *,
    extra: Mapping[str, str],
    tmp_dir: Path,
) -> dict[str, str]:
    """The variables the environment.d files set or change, sourced with ``env`` and
    ``extra`` (DIB's ARCH, IMAGE_NAME, ...). Empty when no element has such files."""
    files = environment_files(elements)
    if not files:
        return {}
    tmp_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dibpy_env.", dir=tmp_dir) as scratch:
        hooks = Path(scratch) / "hooks"
        (hooks / "environment.d").mkdir(parents=True)
        for path in files:
            shutil.copy2(path, hooks / "environment.d" / path.name)
        install_driver(hooks)
        # A file's own temporary files (``$(mktemp)``) go into the scratch dir, removed here.
        given = {**env, **extra, "TMPDIR": scratch, "TMP_HOOKS_PATH": str(hooks)}
        try:
            result = runner.run([hooks / DRIVER, "--print-env", hooks], env=given, capture=True)
        except CommandError as exc:
            tail = f" Its last output lines:\n{exc.output_tail}" if exc.output_tail else ""
            raise InputError(
                "Sourcing the environment.d files of the legacy elements failed (exit status "
                f"{exc.returncode}), before anything was built: a file refused the settings "
                f"or used an unset variable. Fix the variable it names.{tail}"
            ) from None
    sourced = parse_printed_environment(result.stdout)
    return {
        name: value
        for name, value in sourced.items()
        if name not in SHELL_VARIABLES
        and name not in extra
        and name != "TMP_HOOKS_PATH"
        and not name.startswith("BASH_FUNC_")
        and env.get(name) != value
    }
