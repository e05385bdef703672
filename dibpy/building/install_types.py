"""DIB's install types: which ``install.d/<prefix>-<type>-install/`` variant of an element runs.

An element can ship one ``install.d`` script in several variants, one folder per install
type (``nova/install.d/nova-source-install/74-nova`` and
``nova/install.d/nova-package-install/74-nova``). Those folders never run by themselves:
DIB's ``install-types/extra-data.d/99-enable-install-types`` symlinks the scripts of the
chosen folder into ``install.d`` of the merged hooks tree (``install.d/74-nova ->
nova-source-install/74-nova``), and dib-run-parts runs the links like any other script.

The choice, as DIB makes it:

1. every ``DIB_INSTALLTYPE_<prefix>=<type>`` of the environment (``_`` in the prefix stands
   for ``-``: ``DIB_INSTALLTYPE_simple_init=repo`` means ``simple-init-repo-install``)
   chooses ``<prefix>-<type>-install`` if that folder exists. A prefix set this way is
   decided, even when its folder is missing (then none of its variants runs);
2. every other ``*-<DIB_DEFAULT_INSTALLTYPE>-install`` folder (default type ``source``) is
   chosen for the prefix it names.

:func:`selected_install_dirs` computes the choice (pure), :func:`link_selected` makes the
links as ``ln -sf <folder>/* .`` does in ``install.d``, and :func:`install_type_of` is the
type one name gets (what ``source-repositories`` asks before fetching a repository).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path

log = logging.getLogger("dibpy.building.install_types")

PREFIX = "DIB_INSTALLTYPE_"
DEFAULT_VARIABLE = "DIB_DEFAULT_INSTALLTYPE"
DEFAULT_TYPE = "source"
SUFFIX = "-install"


def default_type(env: Mapping[str, str]) -> str:
    """``DIB_DEFAULT_INSTALLTYPE``, ``source`` when unset or empty (``--install-type``)."""
    return env.get(DEFAULT_VARIABLE) or DEFAULT_TYPE


def install_type_of(name: str, env: Mapping[str, str]) -> str:
    """The install type of ``name`` (an element or repository name): its
    ``DIB_INSTALLTYPE_<name>``, every character outside ``[A-Za-z0-9]`` written ``_``, or
    the default type."""
    variable = PREFIX + re.sub(r"[^A-Za-z0-9]", "_", name)
    return env.get(variable) or default_type(env)


def selected_install_dirs(install_d: Path, env: Mapping[str, str]) -> dict[str, str]:
    """``{folder name: install type}`` of the ``install.d`` sub-folders whose scripts run.

    ``install_d`` is ``install.d`` of the merged hooks tree; ``env`` the build's
    environment. Explicit ``DIB_INSTALLTYPE_*`` choices come first, in the order of ``env``,
    then the default type's folders in name order; a folder appears once. Nothing is
    written.
    """
    chosen: dict[str, str] = {}
    decided: set[str] = set()
    for variable, install_type in env.items():
        if not variable.startswith(PREFIX) or variable == PREFIX:
            continue
        prefix = variable[len(PREFIX) :].replace("_", "-")
        decided.add(prefix)
        folder = f"{prefix}-{install_type}{SUFFIX}"
        if _is_dir(install_d / folder, follow=True):
            chosen.setdefault(folder, install_type)
    default = default_type(env)
    suffix = f"-{default}{SUFFIX}"
    if install_d.is_dir():
        for entry in sorted(install_d.iterdir()):
            name = entry.name
            if not name.endswith(suffix) or not _is_dir(entry, follow=False):
                continue
            # ``find -name "*-source-install"``: the prefix may be empty ("-source-install").
            if name[: -len(suffix)] not in decided:
                chosen.setdefault(name, default)
    return chosen


def link_selected(install_d: Path, env: Mapping[str, str]) -> list[Path]:
    """Symlink the scripts of every selected folder into ``install_d``; return the links.

    As ``ln -sf <folder>/* .``: one relative link ``<script> -> <folder>/<script>`` per
    entry of the folder whose name does not start with ``.``; an existing file or link of
    that name is replaced (a later folder wins over an earlier one). An empty folder links
    nothing (DIB's unmatched glob would leave a dangling link named ``*``).
    """
    links: list[Path] = []
    for folder in selected_install_dirs(install_d, env):
        entries = sorted(p.name for p in (install_d / folder).iterdir())
        for script in entries:
            if script.startswith("."):
                continue
            link = install_d / script
            if _is_dir(link, follow=False):
                log.warning(
                    "Not linking %s/%s into install.d: %s is a directory", folder, script, link
                )
                continue
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(f"{folder}/{script}")
            log.info("Install type: %s -> %s/%s", link, folder, script)
            links.append(link)
    return links


def _is_dir(path: Path, *, follow: bool) -> bool:
    """``[ -d path ]`` (``follow``) or ``find -type d`` (a link to a folder is not one)."""
    if not follow and path.is_symlink():
        return False
    return os.path.isdir(path)
