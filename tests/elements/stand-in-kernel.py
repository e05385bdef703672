"""Test element: a local apt repository (DIB_TEST_KERNEL_REPO) with a stand-in
`linux-image-generic` that depends on Debian's kernel, so that the Ubuntu elements' package
lists install on a Debian tree. Added to the image's sources before `apt-get update`."""

from dibpy import BuildContext, ElementSettings, pre_install_hook, setting
from dibpy.errors import SettingsError
from dibpy.tree.paths import write_file


class StandInSettings(ElementSettings):
    repo: str = setting("DIB_TEST_KERNEL_REPO", "", "URL of the flat repository")


@pre_install_hook(order=50)
def add_stand_in_repository(ctx: BuildContext) -> None:
    """A trusted deb822 source for the flat repository."""
    repo = ctx.settings(StandInSettings).repo
    if not repo:
        raise SettingsError("stand-in-kernel needs DIB_TEST_KERNEL_REPO (a flat apt repo URL).")
    write_file(
        ctx.target_root,
        "etc/apt/sources.list.d/stand-in-kernel.sources",
        f"Types: deb\nURIs: {repo}\nSuites: ./\nTrusted: yes\n",
    )
