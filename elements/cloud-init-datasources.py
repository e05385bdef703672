"""Restricts cloud-init to the datasources in DIB_CLOUD_INIT_DATASOURCES."""

from dibpy import BuildContext, ElementSettings, SettingsError, install_hook, setting
from dibpy.author import in_root, write_file

CFG_DIR = "etc/cloud/cloud.cfg.d"


class DatasourceSettings(ElementSettings):
    datasources: str = setting("DIB_CLOUD_INIT_DATASOURCES", "", "comma-separated datasources")


@install_hook(order=5)
def set_cloud_init_sources(ctx: BuildContext) -> None:
    """Write datasource_list (and the Ec2/ConfigDrive tweaks) into cloud.cfg.d."""
    names = [
        n.strip() for n in ctx.settings(DatasourceSettings).datasources.split(",") if n.strip()
    ]
    if not names:
        raise SettingsError(
            "DIB_CLOUD_INIT_DATASOURCES is empty; set it to cloud-init datasources, e.g. Ec2."
        )
    if not in_root(ctx.target_root, CFG_DIR).is_dir():
        return
    write_file(
        ctx.target_root,
        f"{CFG_DIR}/91-dib-cloud-init-datasources.cfg",
        f"datasource_list: [ {', '.join(names)}, None ]\n",
    )
    if "Ec2" in names:
        write_file(
            ctx.target_root,
            f"{CFG_DIR}/92-ec2-datasource.cfg",
            "datasource:\n  Ec2:\n    strict_id: false\n",
        )
    if "ConfigDrive" in names:
        write_file(
            ctx.target_root,
            f"{CFG_DIR}/93-dib-cloud-init-disable-datasource-network-activation.cfg",
            "datasource:\n  ConfigDrive:\n    apply_network_config: false\n",
        )
