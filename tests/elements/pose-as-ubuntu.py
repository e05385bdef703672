"""Test element: makes a Debian tree pass for an Ubuntu cloud image's root.

Its apt sources name archive.ubuntu.com in the deb822 form Ubuntu's noble images use, so
that the `ubuntu` element must rewrite them to DIB_DISTRIBUTION_MIRROR; the security
stanza names Debian's security archive, since the tree carries its updates."""

from dibpy import BuildContext, ElementSettings, finalise_hook, setting
from dibpy.tree.paths import in_root, write_file


class PoserSettings(ElementSettings):
    release: str = setting("DIB_RELEASE", "bookworm", "the Debian release the tree is")


@finalise_hook(order=90)
def pose_as_ubuntu(ctx: BuildContext) -> None:
    """Replace the Debian sources with Ubuntu-style ones."""
    release = ctx.settings(PoserSettings).release
    for listing in in_root(ctx.target_root, "etc/apt/sources.list.d").glob("*.list"):
        listing.unlink()
    write_file(
        ctx.target_root,
        "etc/apt/sources.list.d/ubuntu.sources",
        "Types: deb\n"
        "URIs: http://archive.ubuntu.com/ubuntu/\n"
        f"Suites: {release} {release}-updates\n"
        "Components: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
        "\n"
        # Debian's security archive lives apart from the mirror, so this stanza names it
        # directly (the rewrite leaves it alone): the tree already has its updates.
        "Types: deb\n"
        "URIs: http://deb.debian.org/debian-security/\n"
        f"Suites: {release}-security\n"
        "Components: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n",
    )
