"""Collects build manifests in the image and copies them beside the output.

``DIB_MANIFEST_IMAGE_DIR`` (default ``/etc/dib-manifests``) is where elements write their
manifests in the image; it is exported, as DIB's environment.d does, for the legacy
elements that read it (DIB's ``element-manifest`` fails on an unset one). The directory is
made at extra-data time, as DIB's ``extra-data.d/20-manifest-dir`` makes it, so that DIB's
scripts that write into it from the host (``source-repositories``' git manifest) find it.
"""

from dibpy import BuildContext, ElementSettings, extra_data_hook, setting
from dibpy.author import make_dir

ENVIRONMENT = {"DIB_MANIFEST_IMAGE_DIR": "/etc/dib-manifests"}


class ManifestSettings(ElementSettings):
    image_dir: str = setting(
        "DIB_MANIFEST_IMAGE_DIR", "/etc/dib-manifests", "where manifests go in the image"
    )


@extra_data_hook(order=20)
def manifest_dir(ctx: BuildContext) -> None:
    """``mkdir -p $TMP_MOUNT_PATH/$DIB_MANIFEST_IMAGE_DIR``."""
    make_dir(ctx.target_root, ctx.settings(ManifestSettings).image_dir)
