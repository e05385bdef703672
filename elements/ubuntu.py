"""Ubuntu from the official cloud root image (squashfs; trusty: root tarball), SHA256-verified and
cached, with the mirror rewritten to DIB_DISTRIBUTION_MIRROR.

Root hook 10 is the seed's 10-cache-ubuntu-tarball: under a per-file lock in the image
cache, fetch SHA256SUMS and the image (conditional GET; a re-fetch with cache-busting
headers if the checksum does not match), then extract it into the tree with numeric
owners, device nodes, hard links and xattrs kept. DIB_LOCAL_IMAGE uses a local file
instead (not checksummed, as in DIB); DIB_OFFLINE uses the cached image without a request.
"""

import logging
import re
from pathlib import Path

from pydantic import model_validator

from dibpy import BuildContext, ElementSettings, pre_install_hook, root_hook, setting
from dibpy.author import extract_root_image, in_root

DEPENDS = ["cache-url", "cloud-init-datasources", "dkms", "dpkg", "ubuntu-common"]
PROVIDES = ["operating-system"]
ENVIRONMENT = {"DIB_CLOUD_INIT_DATASOURCES": "Ec2"}
PACKAGES = {"linux-image-generic": None}
HOST_TOOLS = ["unsquashfs", "tar"]  # checked before the build starts

UBUNTU_ARCHIVE = re.compile(r"https?://(archive|security)\.ubuntu\.com/ubuntu/?")
SOURCES = ("etc/apt/sources.list.d/ubuntu.sources", "etc/apt/sources.list")

LOCK_TIMEOUT = 20 * 60  # DIB's flock -w 1200

log = logging.getLogger("dibpy.elements.ubuntu")


class UbuntuImageSettings(ElementSettings):
    release: str = setting("DIB_RELEASE", "noble", "Ubuntu release")
    cloud_images: str = setting(
        "DIB_CLOUD_IMAGES",
        "",
        "where the images are (default cloud-images.ubuntu.com/<release>/current)",
    )
    base_image_file: str = setting(
        "BASE_IMAGE_FILE",
        "",
        "the image's file name (default <release>-server-cloudimg-<arch>.squashfs)",
    )
    sha256sums: str = setting("SHA256SUMS", "", "URL of the SHA256SUMS file")
    local_image: Path | None = setting("DIB_LOCAL_IMAGE", None, "use this file, no download")

    @model_validator(mode="after")
    def _defaults(self) -> "UbuntuImageSettings":
        # Defaults derived from other settings, as the seed's ${VAR:-...} lines derive them.
        if not self.cloud_images:
            url = f"https://cloud-images.ubuntu.com/{self.release}/current"
            object.__setattr__(self, "cloud_images", url)
        if not self.sha256sums:
            object.__setattr__(self, "sha256sums", f"{self.cloud_images.rstrip('/')}/SHA256SUMS")
        return self

    def image_file(self, arch: str) -> str:
        if self.base_image_file:
            return self.base_image_file
        suffix = "-root.tar.gz" if self.release == "trusty" else ".squashfs"
        return f"{self.release}-server-cloudimg-{arch}{suffix}"


@root_hook(order=10)
def cache_ubuntu_tarball(ctx: BuildContext) -> None:
    """Fetch, verify and cache the Ubuntu cloud root image, then extract it into the tree."""
    settings = ctx.settings(UbuntuImageSettings)
    if settings.local_image is not None:
        log.warning(
            "DIB_LOCAL_IMAGE=%s: using it as it is, without a SHA-256 check (as DIB does)",
            settings.local_image,
        )
        extract_root_image(settings.local_image, ctx.target_root, ctx.runner)
        return
    name = settings.image_file(ctx.arch)
    url = f"{settings.cloud_images.rstrip('/')}/{name}"
    sums = f"SHA256SUMS.ubuntu.{settings.release}.{ctx.arch}"
    # The lock is held across extraction too, as DIB does: a concurrent build must not
    # replace the image while this one unpacks it.
    with ctx.cache.area("cloud-images").verified(
        url, name, sums_url=settings.sha256sums, sums_entry=sums, timeout=LOCK_TIMEOUT
    ) as image:
        extract_root_image(image, ctx.target_root, ctx.runner)


class UbuntuMirrorSettings(ElementSettings):
    mirror: str = setting("DIB_DISTRIBUTION_MIRROR", "", "replaces archive/security.ubuntu.com")
    ignore: str = setting(
        "DIB_DISTRIBUTION_MIRROR_UBUNTU_IGNORE", "", "a regex: matching lines are left alone"
    )


@pre_install_hook(order=0)
def remove_apt_xapian_index(ctx: BuildContext) -> None:
    """Remove apt-xapian-index (slow to update on every apt run); absent is fine."""
    ctx.chroot.run(["apt-get", "--yes", "remove", "apt-xapian-index"], check=False)


@pre_install_hook(order=1)
def set_ubuntu_mirror(ctx: BuildContext) -> None:
    """Point the image's apt sources at DIB_DISTRIBUTION_MIRROR."""
    settings = ctx.settings(UbuntuMirrorSettings)
    if not settings.mirror:
        return
    ignore = re.compile(settings.ignore) if settings.ignore else None
    for name in SOURCES:
        path = in_root(ctx.target_root, name)
        if not path.is_file():
            continue
        lines = path.read_text().splitlines(keepends=True)
        path.write_text(
            "".join(
                line
                if ignore and ignore.search(line)
                else UBUNTU_ARCHIVE.sub(settings.mirror.rstrip("/"), line)
                for line in lines
            )
        )
        return
