"""Maps generic package names to distribution-specific names (DIB's pkg-map).

Elements declare ``PKG_MAP`` beside ``PACKAGES``, and package-installs maps their packages
through it. Legacy (DIB folder) elements' hooks call the ``pkg-map`` program instead: for
them the extra-data hook resolves every element's map for this build's ``DISTRO_NAME`` and
``DIB_RELEASE`` into ``pkg-map.d/`` of the hooks tree, which dibpy's ``pkg-map`` (a bash
script, since a minimal Debian tree has no Python) reads. DIB also leaves the JSON maps in
the image's /usr/share/pkg-map; dibpy does not.
"""

from dibpy import BuildContext, extra_data_hook
from dibpy.author import write_pkg_maps


@extra_data_hook(order=10)
def create_pkg_map_dir(ctx: BuildContext) -> None:
    """Write every element's pkg-map, resolved for this build, to <hooks>/pkg-map.d/ (when
    the build has a hooks tree, i.e. legacy elements)."""
    if not ctx.hooks_path.is_dir():
        return
    write_pkg_maps(
        ctx.hooks_path,
        ctx.element_data("PKG_MAP"),
        ctx.env.get("DISTRO_NAME", ""),
        ctx.env.get("DIB_RELEASE", ""),
    )
