"""dibpy: build bootable OS disk images from elements written in Python.

Element authors import the hook decorators and ``BuildContext`` from here; tools that drive
builds use ``dibpy.plan`` and ``dibpy.build``.
"""

from dibpy import events
from dibpy._version import __version__
from dibpy.api import build, plan
from dibpy.building import apt
from dibpy.building.build import BuildResult
from dibpy.building.context import BuildContext
from dibpy.config.settings import ElementSettings, setting
from dibpy.elements.hooks import (
    block_device_hook,
    cleanup_hook,
    extra_data_hook,
    finalise_hook,
    install_hook,
    post_install_hook,
    post_root_hook,
    pre_finalise_hook,
    pre_install_hook,
    root_hook,
)
from dibpy.elements.phases import Phase
from dibpy.errors import (
    BuildError,
    BuildInterrupted,
    CommandError,
    DibError,
    ElementLoadError,
    ElementNotFoundError,
    HookDefinitionError,
    HookError,
    InputError,
    ResolutionError,
    SettingsError,
)
from dibpy.host.fetch import FetchError
from dibpy.legacy.kept import run_kept_script
from dibpy.planning.plan import Plan

__all__ = [
    "BuildContext",
    "BuildError",
    "BuildInterrupted",
    "BuildResult",
    "CommandError",
    "DibError",
    "ElementLoadError",
    "ElementNotFoundError",
    "ElementSettings",
    "FetchError",
    "HookDefinitionError",
    "HookError",
    "InputError",
    "Phase",
    "Plan",
    "ResolutionError",
    "SettingsError",
    "__version__",
    "apt",
    "block_device_hook",
    "build",
    "cleanup_hook",
    "events",
    "extra_data_hook",
    "finalise_hook",
    "install_hook",
    "plan",
    "post_install_hook",
    "post_root_hook",
    "pre_finalise_hook",
    "pre_install_hook",
    "root_hook",
    "run_kept_script",
    "setting",
]
