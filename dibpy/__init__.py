"""dibpy: build bootable OS disk images from elements written in Python.

Element authors import the hook decorators and ``BuildContext`` from here; tools that drive
builds use ``dibpy.plan`` and ``dibpy.build``.
"""

from dibpy import apt
from dibpy.api import build, plan
from dibpy.build import BuildResult
from dibpy.context import BuildContext
from dibpy.errors import (
    BuildError,
    CommandError,
    DibError,
    HookError,
    InputError,
    ResolutionError,
    SettingsError,
)
from dibpy.hooks import (
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
from dibpy.phases import Phase
from dibpy.plan import Plan
from dibpy.settings import ElementSettings, setting

__version__ = "0.1.0"

__all__ = [
    "BuildContext",
    "BuildError",
    "BuildResult",
    "CommandError",
    "DibError",
    "ElementSettings",
    "HookError",
    "InputError",
    "Phase",
    "Plan",
    "ResolutionError",
    "SettingsError",
    "apt",
    "block_device_hook",
    "build",
    "cleanup_hook",
    "extra_data_hook",
    "finalise_hook",
    "install_hook",
    "plan",
    "post_install_hook",
    "post_root_hook",
    "pre_finalise_hook",
    "pre_install_hook",
    "root_hook",
    "setting",
]
