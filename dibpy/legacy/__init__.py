"""Running legacy elements: DIB's folder-of-shell-scripts elements, beside Python ones.

A folder element is read into the same ``Element`` a Python module gives by
``dibpy.elements.folder``; its scripts are hooks like any other, run by one bash driver
shipped as a file (``script``); the merged hooks tree they expect is assembled before the
root phase (``hooktree``).
"""
