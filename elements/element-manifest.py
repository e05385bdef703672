"""Writes the list of elements the image was built from into the image.

The port of DIB's ``element-manifest``: in the extra-data phase, every element of the build,
one a line, goes to ``DIB_ELEMENT_MANIFEST_PATH``, by default
``$DIB_MANIFEST_IMAGE_DIR/dib-element-manifest`` (``/etc/dib-manifests/dib-element-manifest``;
DIB's README says ``element-manifest``, its script writes ``dib-element-manifest``).
"""

from pathlib import PurePosixPath

from dibpy import BuildContext, ElementSettings, extra_data_hook, setting
from dibpy.author import make_dirs, write_file

DEPENDS = ["manifests"]


class ElementManifestSettings(ElementSettings):
    path: str = setting(
        "DIB_ELEMENT_MANIFEST_PATH",
        "",
        "where the list goes in the image; default $DIB_MANIFEST_IMAGE_DIR/dib-element-manifest",
    )
    image_dir: str = setting(
        "DIB_MANIFEST_IMAGE_DIR", "/etc/dib-manifests", "where manifests go in the image"
    )


def manifest_path(settings: ElementManifestSettings) -> str:
    """The file's path in the image."""
    return settings.path or f"{settings.image_dir}/dib-element-manifest"


@extra_data_hook(order=75)
def inject_element_manifest(ctx: BuildContext) -> None:
    """Write every element of the build, one a line, to the element manifest."""
    path = manifest_path(ctx.settings(ElementManifestSettings))
    make_dirs(ctx.target_root, str(PurePosixPath("/", path).parent))
    write_file(ctx.target_root, path, "".join(f"{name}\n" for name in ctx.elements))
