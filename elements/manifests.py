"""Collects build manifests in the image and copies them beside the output.

``DIB_MANIFEST_IMAGE_DIR`` (default ``/etc/dib-manifests``) is where elements write their
manifests in the image; it is exported, as DIB's environment.d does, for the legacy
elements that read it (DIB's ``element-manifest`` fails on an unset one).
"""

ENVIRONMENT = {"DIB_MANIFEST_IMAGE_DIR": "/etc/dib-manifests"}
