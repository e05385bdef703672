"""Run a script a ported element kept, the way its legacy hook ran it.

``dibpy port`` turns a DIB folder element into a Python element package and keeps each
script beside the module (``NAME/install.d/50-foo``); the merged hooks tree holds it at the
same place, so ``$(dirname $0)/../static`` still works. Each generated hook calls
:func:`run_kept_script` until it is translated to Python::

    @install_hook(order=50)
    def install_50_foo(ctx: BuildContext) -> None:
        run_kept_script(ctx, "foo", Phase.INSTALL, "50-foo")
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dibpy.elements.folder import INSTALL_TYPE_DIR
from dibpy.errors import BuildError, HookDefinitionError
from dibpy.legacy.script import LegacyScript
from dibpy.phases import Phase

if TYPE_CHECKING:
    from dibpy.building.context import BuildContext


class KeptScriptMissing(BuildError):
    """The script a ported hook runs is not in the merged hooks tree."""


def run_kept_script(
    ctx: BuildContext,
    element: str,
    phase: Phase,
    script: str,
    *,
    install_type: str | None = None,
) -> None:
    """Run ``PHASE.d/SCRIPT`` of the hooks tree as the legacy hook of ``element`` ran it:
    environment.d sourced once per phase, DIB's variables, in the chroot for the pre-install,
    install, post-install and finalise phases, on the host otherwise.

    ``install_type`` names the ``install.d/<prefix>-<type>-install`` folder the script
    comes from: it then runs only when install-types chose that type, as under DIB.
    """
    if phase is Phase.BLOCK_DEVICE:
        LegacyScript(element, phase, script)(ctx)  # refused, with the reason
    variant = None
    relative = f"{phase.value}.d/{script}"
    if install_type is not None:
        match = INSTALL_TYPE_DIR.match(install_type)
        if phase is not Phase.INSTALL or match is None:
            raise HookDefinitionError(
                f"Element {element!r} runs the kept script {script!r} with install_type="
                f"{install_type!r}; an install type is the name of an install.d folder "
                "<prefix>-<type>-install, and only install hooks have one."
            )
        variant = (match["prefix"], match["type"], install_type)
        relative = f"{phase.value}.d/{install_type}/{script}"
    if not (ctx.hooks_path / relative).is_file():
        raise KeptScriptMissing(
            f"Element {element!r} runs its kept script {relative}, which is not in the merged "
            f"hooks tree ({ctx.hooks_path}). It belongs in the element's package folder, "
            f"beside __init__.py, as {relative}: put it back, or finish translating the hook "
            "and remove the run_kept_script call."
        )
    LegacyScript(element, phase, script, variant)(ctx)
