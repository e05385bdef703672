"""The element author's toolbox: everything an element needs beyond ``dibpy`` itself.

``dibpy`` has the hook decorators, ``BuildContext``, settings, ``Phase`` and the errors;
this module has the helpers elements use on the tree, on archives, on packages and on the
disk layout, and for testing their hooks. Elements (``elements/``, ``examples/``, and
yours) import ``dibpy`` and ``dibpy.author`` and nothing else of dibpy: the rest is
internal and may change. ``docs/elements.md`` documents each name.

The names load on first use, like ``dibpy``'s own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dibpy._lazy import exports

if TYPE_CHECKING:
    from dibpy.blockdev.disk import BIOS_BOOT_GUID as BIOS_BOOT_GUID
    from dibpy.blockdev.disk import ESP_GUID as ESP_GUID
    from dibpy.blockdev.disk import gpt_type_guid as gpt_type_guid
    from dibpy.blockdev.model import SECTOR as SECTOR
    from dibpy.blockdev.model import DiskLayout as DiskLayout
    from dibpy.blockdev.model import Filesystem as Filesystem
    from dibpy.blockdev.model import Partition as Partition
    from dibpy.building.install_types import install_type_of as install_type_of
    from dibpy.building.install_types import link_selected as link_selected
    from dibpy.config.distro import AptDistroSettings as AptDistroSettings
    from dibpy.config.settings import parse_bool as parse_bool
    from dibpy.elements.packages import PhasePackages as PhasePackages
    from dibpy.elements.packages import map_names as map_names
    from dibpy.elements.packages import squash as squash
    from dibpy.host.run import Result as Result
    from dibpy.host.run import Runner as Runner
    from dibpy.legacy.maps import merge_svc_maps as merge_svc_maps
    from dibpy.legacy.maps import write_pkg_maps as write_pkg_maps
    from dibpy.legacy.maps import write_svc_map as write_svc_map
    from dibpy.testing import make_context as make_context
    from dibpy.tree.copying import copy_into_root as copy_into_root
    from dibpy.tree.copying import install_file as install_file
    from dibpy.tree.copying import make_dirs as make_dirs
    from dibpy.tree.extract import ArchiveFormat as ArchiveFormat
    from dibpy.tree.extract import UnsafeArchiveError as UnsafeArchiveError
    from dibpy.tree.extract import detect_format as detect_format
    from dibpy.tree.extract import extract_root_image as extract_root_image
    from dibpy.tree.paths import in_root as in_root
    from dibpy.tree.paths import make_dir as make_dir
    from dibpy.tree.paths import remove_file as remove_file
    from dibpy.tree.paths import write_file as write_file

_EXPORTS: dict[str, str] = {
    # Paths in the tree, resolved inside it as a chroot would (the tree is hostile).
    "in_root": "dibpy.tree.paths",
    "write_file": "dibpy.tree.paths",
    "remove_file": "dibpy.tree.paths",
    "make_dir": "dibpy.tree.paths",
    # Copying host files into the tree, as DIB's install-static and install-bin do.
    "copy_into_root": "dibpy.tree.copying",
    "install_file": "dibpy.tree.copying",
    "make_dirs": "dibpy.tree.copying",
    # Archives, listed by the same reader that extracts them.
    "extract_root_image": "dibpy.tree.extract",
    "detect_format": "dibpy.tree.extract",
    "ArchiveFormat": "dibpy.tree.extract",
    "UnsafeArchiveError": "dibpy.tree.extract",
    # Settings shared by elements.
    "parse_bool": "dibpy.config.settings",
    "AptDistroSettings": "dibpy.config.distro",
    # Packages: declarations worked out per phase, and pkg-map names.
    "map_names": "dibpy.elements.packages",
    "PhasePackages": "dibpy.elements.packages",
    "squash": "dibpy.elements.packages",
    "write_pkg_maps": "dibpy.legacy.maps",
    "merge_svc_maps": "dibpy.legacy.maps",
    "write_svc_map": "dibpy.legacy.maps",
    # DIB's install types (install.d/<prefix>-<type>-install/).
    "install_type_of": "dibpy.building.install_types",
    "link_selected": "dibpy.building.install_types",
    # The disk layout a ``ctx.disk.before_assembly``/``after_assembly`` step receives.
    "DiskLayout": "dibpy.blockdev.model",
    "Partition": "dibpy.blockdev.model",
    "Filesystem": "dibpy.blockdev.model",
    "SECTOR": "dibpy.blockdev.model",
    "gpt_type_guid": "dibpy.blockdev.disk",
    "BIOS_BOOT_GUID": "dibpy.blockdev.disk",
    "ESP_GUID": "dibpy.blockdev.disk",
    # Running programs: the type of ``ctx.runner`` and of what it returns.
    "Runner": "dibpy.host.run",
    "Result": "dibpy.host.run",
    # Testing hooks without a build.
    "make_context": "dibpy.testing",
}

__all__, __getattr__, __dir__ = exports(globals(), _EXPORTS)
