"""dibpy: build bootable OS disk images from elements written in Python.

Element authors import the hook decorators, ``BuildContext``, settings and errors from here,
and the tree and package helpers from ``dibpy.author``; tools that drive builds use
``dibpy.plan`` and ``dibpy.build``.

The names are loaded on first use (PEP 562), so ``import dibpy`` and ``dibpy.plan(...)``
load neither the build machinery nor the HTTP client: planning stays pure at run time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dibpy._lazy import exports
from dibpy._version import __version__ as __version__

if TYPE_CHECKING:
    from dibpy import events as events
    from dibpy.api import BuildOptions as BuildOptions
    from dibpy.api import PlanOptions as PlanOptions
    from dibpy.api import build as build
    from dibpy.api import plan as plan
    from dibpy.building import apt as apt
    from dibpy.building.build import BuildResult as BuildResult
    from dibpy.building.context import BuildContext as BuildContext
    from dibpy.config.settings import ElementSettings as ElementSettings
    from dibpy.config.settings import setting as setting
    from dibpy.elements.hooks import block_device_hook as block_device_hook
    from dibpy.elements.hooks import cleanup_hook as cleanup_hook
    from dibpy.elements.hooks import extra_data_hook as extra_data_hook
    from dibpy.elements.hooks import finalise_hook as finalise_hook
    from dibpy.elements.hooks import install_hook as install_hook
    from dibpy.elements.hooks import post_install_hook as post_install_hook
    from dibpy.elements.hooks import post_root_hook as post_root_hook
    from dibpy.elements.hooks import pre_finalise_hook as pre_finalise_hook
    from dibpy.elements.hooks import pre_install_hook as pre_install_hook
    from dibpy.elements.hooks import root_hook as root_hook
    from dibpy.errors import BuildError as BuildError
    from dibpy.errors import BuildInterrupted as BuildInterrupted
    from dibpy.errors import CommandError as CommandError
    from dibpy.errors import DibError as DibError
    from dibpy.errors import ElementLoadError as ElementLoadError
    from dibpy.errors import ElementNotFoundError as ElementNotFoundError
    from dibpy.errors import HookDefinitionError as HookDefinitionError
    from dibpy.errors import HookError as HookError
    from dibpy.errors import InputError as InputError
    from dibpy.errors import ResolutionError as ResolutionError
    from dibpy.errors import SettingsError as SettingsError
    from dibpy.host.fetch import FetchError as FetchError
    from dibpy.legacy.kept import run_kept_script as run_kept_script
    from dibpy.phases import Phase as Phase
    from dibpy.planning.plan import Plan as Plan

# Each public name, and the module that defines it.
_EXPORTS: dict[str, str] = {
    "build": "dibpy.api",
    "BuildOptions": "dibpy.api",
    "PlanOptions": "dibpy.api",
    "plan": "dibpy.api",
    "BuildResult": "dibpy.building.build",
    "BuildContext": "dibpy.building.context",
    "ElementSettings": "dibpy.config.settings",
    "setting": "dibpy.config.settings",
    "Phase": "dibpy.phases",
    "Plan": "dibpy.planning.plan",
    "FetchError": "dibpy.host.fetch",
    "run_kept_script": "dibpy.legacy.kept",
    **{
        name: "dibpy.elements.hooks"
        for name in (
            "root_hook",
            "extra_data_hook",
            "pre_install_hook",
            "install_hook",
            "post_install_hook",
            "post_root_hook",
            "block_device_hook",
            "pre_finalise_hook",
            "finalise_hook",
            "cleanup_hook",
        )
    },
    **{
        name: "dibpy.errors"
        for name in (
            "DibError",
            "InputError",
            "BuildError",
            "BuildInterrupted",
            "CommandError",
            "ElementLoadError",
            "ElementNotFoundError",
            "HookDefinitionError",
            "HookError",
            "ResolutionError",
            "SettingsError",
        )
    },
}
# Public modules, reached as attributes: ``dibpy.apt.install(ctx, [...])``.
_MODULES: dict[str, str] = {"apt": "dibpy.building.apt", "events": "dibpy.events"}

__all__, __getattr__, __dir__ = exports(globals(), _EXPORTS, _MODULES, also=["__version__"])
