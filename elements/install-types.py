"""Chooses between the install-type variants of install hooks (DIB_INSTALLTYPE_*).

An element can ship an `install.d` script in several variants, one folder per install type
(`install.d/nova-source-install/74-nova`, `install.d/nova-package-install/74-nova`). The
chosen folder's scripts are linked into `install.d` and run; the others do not. The type of
a prefix is `DIB_INSTALLTYPE_<prefix>` (`_` standing for `-`), else
`DIB_DEFAULT_INSTALLTYPE` (default `source`; DIB's `--install-type`). The choice and the
links are made as DIB's `extra-data.d/99-enable-install-types` makes them, by
`dibpy.building.install_types`, which the build calls for the legacy elements' scripts.
"""

from dibpy import BuildContext, ElementSettings, Phase, extra_data_hook, setting
from dibpy.author import link_selected

ENVIRONMENT = {"DIB_DEFAULT_INSTALLTYPE": "source"}


class InstallTypeSettings(ElementSettings):
    default_install_type: str = setting(
        "DIB_DEFAULT_INSTALLTYPE",
        "source",
        "install type of every prefix without its own DIB_INSTALLTYPE_<prefix>",
    )


@extra_data_hook(order=99)
def enable_install_types(ctx: BuildContext) -> None:
    """Link the chosen install.d/<prefix>-<type>-install/ scripts into install.d."""
    install_d = ctx.hooks_path / "install.d"
    if install_d.is_dir():
        link_selected(install_d, ctx.shell_environment(Phase.EXTRA_DATA))
