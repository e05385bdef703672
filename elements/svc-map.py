"""Maps service names to the distribution's (DIB's svc-map), for elements that enable
services by a generic name: ``systemctl enable $(svc-map amphora-agent)``.

Elements declare ``SVC_MAP`` (a legacy element's ``svc-map`` YAML file), mapping each
service to names per distribution, family or ``default``. At extra-data time the maps of
the build's elements are merged in element order, as DIB's 10-merge-svc-map-files does (a
service defined twice is an error), into ``svc-map.d/services`` of the hooks tree, which
dibpy's ``svc-map`` program (bash: a minimal Debian tree has no Python) reads; and, as in
DIB, into the image's /usr/share/svc-map/services (YAML). DIB's element depends on
dib-python and installs PyYAML for its Python svc-map; dibpy needs neither.
"""

import yaml

from dibpy import BuildContext, extra_data_hook
from dibpy.author import merge_svc_maps, write_file, write_svc_map

SERVICES_FILE = "usr/share/svc-map/services"


@extra_data_hook(order=10)
def merge_svc_map_files(ctx: BuildContext) -> None:
    """Merge the elements' svc-maps into <hooks>/svc-map.d/services (when the build has a
    hooks tree, i.e. legacy elements)."""
    if not ctx.hooks_path.is_dir():
        return
    write_svc_map(
        ctx.hooks_path,
        ctx.element_data("SVC_MAP"),
        ctx.env.get("DISTRO_NAME", ""),
        ctx.env.get("DIB_RELEASE", ""),
    )


@extra_data_hook(order=11)
def copy_svc_map_file(ctx: BuildContext) -> None:
    """Write the merged map to the image's /usr/share/svc-map/services (YAML, 0644), as
    DIB leaves it there."""
    merged = merge_svc_maps(ctx.element_data("SVC_MAP"), ctx.env.get("DISTRO_NAME", ""))
    text = yaml.safe_dump(merged, default_flow_style=False)
    write_file(ctx.target_root, SERVICES_FILE, text, 0o644)
