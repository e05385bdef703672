"""Configures every network interface with a real MAC address for DHCP, as it appears at boot.

The port of DIB's ``dhcp-all-interfaces``, for machines (bare metal above all) whose
interfaces are not known in advance. Install 50:

- where the image has ``/etc/NetworkManager``, ``conf.d/00-main.conf`` (``ignore-carrier``,
  endless retries, ``DIB_DHCP_TIMEOUT``, the client ``DIB_DHCP_CLIENT``: ``internal``, or
  dhclient/dhcpcd on RHEL 7, 8 and 10); with ``DIB_DHCP_NETWORK_MANAGER_AUTO=true``
  NetworkManager configures the interfaces and nothing more is done;
- ``/usr/local/sbin/dhcp-all-interfaces.sh`` (not on Gentoo), which writes an interface's
  DHCP (and IPv6, with ``rdisc6``) configuration unless it has one, waiting up to
  ``DIB_DHCP_TIMEOUT`` seconds for a link;
- ``/etc/dhcp/dhclient.conf``, where there is one: ``timeout DIB_DHCP_TIMEOUT;``, ``retry``
  commented out;
- by ``DIB_INIT_SYSTEM``: systemd, the unit ``dhcp-interface@.service`` (start timeout twice
  ``DIB_DHCP_TIMEOUT``) and the udev rule ``99-dhcp-all-interfaces.rules`` that starts it for
  each interface but ``lo``; upstart, the job ``/etc/init/dhcp-all-interfaces.conf`` (on
  RHEL the sysv script, ``chkconfig``'d on); sysv, ``/etc/init.d/dhcp-all-interfaces``
  (``update-rc.d``); Gentoo's openrc, dhcpcd (no SLAAC override, no host or domain name).

Install 60 removes the interface configurations cloud images bring (``ifcfg-*`` but
loopback's, ``/etc/network/interfaces.d/*``, ``/etc/conf.d/net*``) and leaves
``/etc/network/interfaces`` with the loopback and the ``source`` of ``interfaces.d``.

The DHCP client, ``ifupdown`` and ``ndisc6`` are installed (by the distribution's names).
"""

import logging
import os
import re
from pathlib import Path
from typing import Literal

from dibpy import BuildContext, ElementSettings, install_hook, setting
from dibpy.author import in_root, write_file

DEPENDS = ["dib-init-system", "package-installs", "pkg-map"]
PACKAGES = {"dhcp-client": None, "ifupdown": None, "ndisc6": None}
_NO_IFUPDOWN = {"dhcp-client": "dhcpcd", "ifupdown": ""}
PKG_MAP = {
    "release": {
        "almalinux": {"10": _NO_IFUPDOWN},
        "centos": {"10-stream": _NO_IFUPDOWN},
        "rocky": {"10": _NO_IFUPDOWN},
    },
    "family": {
        "redhat": {
            "dhcp-client": "dhclient",
            "ifupdown": "NetworkManager-initscripts-updown",
            "ndisc6": "",
        },
        "gentoo": {"dhcp-client": "net-misc/dhcpcd", "ndisc6": "net-misc/ndisc6"},
        "suse": {"dhcp-client": "dhcp-client"},
        "debian": {"ifupdown": "ifupdown", "ndisc6": "ndisc6"},
    },
    "default": {"dhcp-client": "isc-dhcp-client", "ifupdown": "", "ndisc6": ""},
}
FILES = Path(__file__).with_name("files")
SCRIPT = "usr/local/sbin/dhcp-all-interfaces.sh"
INIT_SCRIPT = "etc/init.d/dhcp-all-interfaces"
# RHEL releases (DIB's `[[ 'N' =~ $DIB_RELEASE ]]`) whose NetworkManager uses another client.
RHEL_CLIENTS = (("7", "dhclient"), ("8", "dhclient"), ("10", "dhcpcd"))
TIMEOUT_NOTE = '# "timeout" Value set by dhcp-all-interfaces\n'
RETRY_NOTE = '# "retry" Value commented by dhcp-all-interfaces\n# '

log = logging.getLogger("dibpy.elements.dhcp-all-interfaces")


class DhcpSettings(ElementSettings):
    timeout: int = setting(
        "DIB_DHCP_TIMEOUT", 30, "seconds to wait for a link and an address (more for Infiniband)"
    )
    network_manager_auto: str = setting(
        "DIB_DHCP_NETWORK_MANAGER_AUTO",
        "false",
        "true: where NetworkManager is, let it configure the interfaces; install no service",
    )
    client: str = setting(
        "DIB_DHCP_CLIENT",
        "",
        "NetworkManager's DHCP client (default internal; dhclient or dhcpcd on RHEL 7, 8, 10)",
    )
    init_system: Literal["upstart", "openrc", "systemd", "sysv"] = setting(
        "DIB_INIT_SYSTEM", "systemd", "the image's init system"
    )
    distro: str = setting("DISTRO_NAME", "", "the distribution")
    release: str = setting("DIB_RELEASE", "", "the distribution's release")


def release_is(release: str, number: str) -> bool:
    """bash's ``[[ NUMBER =~ $DIB_RELEASE ]]``: the release, as a pattern, found in NUMBER."""
    try:
        return re.search(release, number) is not None
    except re.error:
        return False


def template(name: str, **values: str) -> str:
    """A file of ``files/`` with each ``KEY`` replaced by its value, as DIB's ``sed s/KEY/V/g``."""
    text = (FILES / name).read_text()
    for key, value in values.items():
        text = text.replace(key, value)
    return text


def first_per_line(text: str, old: str, new: str) -> str:
    """``sed s/OLD/NEW/``: the first ``old`` of each line replaced."""
    return "".join(line.replace(old, new, 1) for line in text.splitlines(keepends=True))


def with_dhclient_timeout(conf: str, timeout: int) -> str:
    """dhclient.conf with ``timeout`` set (replacing, or appended) and ``retry`` commented."""
    setting_line = f"{TIMEOUT_NOTE}timeout {timeout};"
    if re.search(r"^timeout ", conf, re.MULTILINE):
        conf = re.sub(r"^timeout .*$", setting_line, conf, flags=re.MULTILINE)
    else:
        conf += setting_line + "\n"
    if re.search(r"^retry ", conf, re.MULTILINE):
        conf = re.sub(r"^retry", f"{RETRY_NOTE}retry", conf, flags=re.MULTILINE)
    return conf


def rewrite(root: Path, path: str, change: str) -> None:
    """Replace the text of ``path`` in the tree, keeping its mode (as ``sed -i`` does)."""
    mode = in_root(root, path).stat().st_mode & 0o7777
    write_file(root, path, change, mode=mode)


@install_hook(order=50)
def dhcp_all_interfaces(ctx: BuildContext) -> None:
    """Install the DHCP-everything script and the service that runs it for each interface."""
    settings = ctx.settings(DhcpSettings)
    root, timeout = ctx.target_root, str(settings.timeout)
    redhat = in_root(root, "etc/redhat-release").exists()
    client = settings.client
    if redhat and not client:
        client = next((c for n, c in RHEL_CLIENTS if release_is(settings.release, n)), "")
    network_manager = in_root(root, "etc/NetworkManager")
    if network_manager.exists() and os.access(network_manager, os.X_OK):
        conf = template(
            "NetworkManager-conf.d-00-main.conf",
            DIB_DHCP_CLIENT=client or "internal",
            DIB_DHCP_TIMEOUT=timeout,
        )
        write_file(root, "etc/NetworkManager/conf.d/00-main.conf", conf)
        if settings.network_manager_auto == "true":
            log.info("NetworkManager configures the interfaces (DIB_DHCP_NETWORK_MANAGER_AUTO)")
            return
    if redhat:  # ndisc6 is not in every RHEL's repositories: try, as DIB does
        yum = "dnf" if any(in_root(root, p).exists() for p in ("usr/bin/dnf", "bin/dnf")) else "yum"
        ctx.chroot.run([yum, "-v", "-y", "install", "ndisc6"], check=False)
    if settings.distro != "gentoo":
        script = first_per_line(
            (FILES / "dhcp-all-interfaces.sh").read_text(), "DIB_DHCP_TIMEOUT", timeout
        )
        write_file(root, SCRIPT, script, mode=0o755)
    if in_root(root, "etc/dhcp/dhclient.conf").is_file():
        conf = in_root(root, "etc/dhcp/dhclient.conf").read_text()
        rewrite(root, "etc/dhcp/dhclient.conf", with_dhclient_timeout(conf, settings.timeout))
    install_service(ctx, settings, redhat)


def install_service(ctx: BuildContext, settings: DhcpSettings, redhat: bool) -> None:
    """The init system's way of running the script for each interface."""
    root = ctx.target_root
    if settings.init_system == "upstart" and redhat:  # sysv compatibility (RHEL 6)
        write_file(root, INIT_SCRIPT, template("dhcp-all-interfaces.init"), mode=0o755)
        ctx.chroot.run(["chkconfig", "dhcp-all-interfaces", "on"])
    elif settings.init_system == "upstart":
        job = template("dhcp-all-interfaces.conf")
        write_file(root, "etc/init/dhcp-all-interfaces.conf", job, mode=0o755)
    elif settings.init_system == "systemd":
        unit = first_per_line(
            template("dhcp-interface@.service"),
            "TimeoutStartSec=DIB_DHCP_TIMEOUT",
            f"TimeoutStartSec={settings.timeout * 2}s",
        )
        write_file(root, "usr/lib/systemd/system/dhcp-interface@.service", unit)
        rule = template("dhcp-all-interfaces-udev.rules")
        write_file(root, "etc/udev/rules.d/99-dhcp-all-interfaces.rules", rule)
    elif settings.init_system == "sysv":
        write_file(root, INIT_SCRIPT, template("dhcp-all-interfaces.init"), mode=0o755)
        ctx.chroot.run(["update-rc.d", "dhcp-all-interfaces", "defaults"])
    elif settings.distro == "gentoo":
        conf = in_root(root, "etc/dhcpcd.conf").read_text().replace("slaac", "#slaac")
        conf = conf.replace("domain_name, domain_search, host_name", "domain_search")
        rewrite(root, "etc/dhcpcd.conf", conf)
        ctx.chroot.run(["rc-update", "add", "dhcpcd", "default"])


def removable(folder: Path, pattern: str, keep: str = "") -> list[Path]:
    """The entries of ``folder`` matching the shell glob ``pattern`` (no hidden names, no
    directories, none named with ``keep``), as ``rm -f folder/pattern`` removes them."""
    if not folder.is_dir():
        return []
    return [
        p
        for p in sorted(folder.glob(pattern))
        if not p.name.startswith(".")
        and not (p.is_dir() and not p.is_symlink())
        and not (keep and keep in p.name)
    ]


@install_hook(order=60)
def remove_cloud_image_interfaces(ctx: BuildContext) -> None:
    """Remove the interface configurations a cloud image brings; keep only loopback's."""
    root = ctx.target_root
    for folder, pattern, keep in (
        ("etc/sysconfig/network-scripts", "ifcfg-*", "ifcfg-lo"),
        ("etc/network/interfaces.d", "*", ""),
        ("etc/conf.d", "net*", ""),
    ):
        for path in removable(in_root(root, folder), pattern, keep):
            path.unlink()
    if not in_root(root, "etc/network/interfaces").is_file():
        return
    text = "auto lo\niface lo inet loopback\n\n"
    if in_root(root, "etc/network/interfaces.d").is_dir():
        settings = ctx.settings(DhcpSettings)
        if settings.distro == "ubuntu" and settings.release == "trusty":
            text += "source-directory interfaces.d\n\n"
        else:
            text += "source /etc/network/interfaces.d/*\n\n"
    rewrite(root, "etc/network/interfaces", text)
