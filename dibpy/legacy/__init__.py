"""Legacy elements: DIB's folder-of-shell-scripts elements, run unchanged beside Python ones.

A legacy element is read into the same ``Element`` a Python module gives (``element``); its
scripts are hooks like any other, run by one bash driver shipped as a file (``script``); the
merged hooks tree they expect is assembled before the root phase (``hooktree``).
"""

from dibpy.legacy.element import load_legacy_element, looks_like_element
from dibpy.legacy.hooktree import assemble, check_duplicate_scripts, check_supported
from dibpy.legacy.script import LegacyScript, LegacyScriptFailed, phase_environment

__all__ = [
    "LegacyScript",
    "LegacyScriptFailed",
    "assemble",
    "check_duplicate_scripts",
    "check_supported",
    "load_legacy_element",
    "looks_like_element",
    "phase_environment",
]
