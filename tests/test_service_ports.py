"""The service ports (openssh-server, runtime-ssh-host-keys, devuser, dynamic-login, growroot,
dhcp-all-interfaces), fast: their text edits against DIB's own shell lines run on the same
input, the paths tests/test_differential_services.py does not build (other init systems,
other distributions), bad settings, and their documentation.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import builtin_element, clean_env, dibpy_show
from differential import dib_elements

from dibpy import BuildContext
from dibpy.author import make_context

PORTS = (
    "openssh-server",
    "runtime-ssh-host-keys",
    "devuser",
    "dynamic-login",
    "growroot",
    "dhcp-all-interfaces",
)
# The part of Debian 12's sshd_config DIB's hardening edits.
SSHD_CONFIG = """\
#HostKey /etc/ssh/ssh_host_ed25519_key

# Ciphers and keying
#RekeyLimit default none

# Logging
"""


def context(tmp_path: Path, **env: str) -> BuildContext:
    ctx = make_context(tmp_path, env=env)
    ctx.target_root.mkdir(exist_ok=True)
    return ctx


def dib_shell(script: Path, start: str, end: str, path: str, target: Path) -> str:
    """The lines of DIB's ``script`` from ``start`` to ``end``, acting on ``target``."""
    text = script.read_text()
    block = text[text.index(start) : text.index(end, text.index(start))]
    return block.replace(path, str(target))


@pytest.mark.parametrize(
    "config",
    [
        SSHD_CONFIG,
        SSHD_CONFIG + "MACs hmac-sha1\nCiphers aes128-ctr\n",
        SSHD_CONFIG.replace("\n# Logging", "\n# Ciphers and keying, again\n# Logging"),
    ],
    ids=["debian", "weak-settings", "two-anchors"],
)
def test_sshd_is_hardened_as_dibs_sed_hardens_it(tmp_path: Path, config: str) -> None:
    target = tmp_path / "sshd_config"
    target.write_text(config)
    script = dib_elements() / "openssh-server/post-install.d/99-harden-sshd-config"
    shell = (
        dib_shell(script, "if [ ${DIB_OPENSSH", "\nfi\n", "/etc/ssh/sshd_config", target) + "\nfi\n"
    )
    subprocess.run(["bash", "-euc", shell], check=True)
    ported = builtin_element("openssh-server").hardened(config)
    assert ported == target.read_text()
    assert ported != config
    assert builtin_element("openssh-server").hardened(ported) == ported  # twice: no change


@pytest.mark.parametrize(
    "conf",
    ["option rfc3442;\n#timeout 60;\n#retry 60;\n", "timeout 60;\nretry 60;\nreboot 10;\n"],
    ids=["debian", "set"],
)
def test_dhclient_conf_is_edited_as_dibs_sed_edits_it(tmp_path: Path, conf: str) -> None:
    target = tmp_path / "dhclient.conf"
    target.write_text(conf)
    script = dib_elements() / "dhcp-all-interfaces/install.d/50-dhcp-all-interfaces"
    shell = dib_shell(script, "if [ -f /etc/dhcp", "\nfi\n\n", "/etc/dhcp/dhclient.conf", target)
    subprocess.run(["bash", "-euc", shell + "\nfi\n"], check=True, env={"DIB_DHCP_TIMEOUT": "45"})
    ported = builtin_element("dhcp-all-interfaces").with_dhclient_timeout(conf, 45)
    assert ported == target.read_text()
    assert "timeout 45;" in ported


@pytest.mark.parametrize(
    ("release", "number", "found"),
    [("7", "7", True), ("8", "7", False), ("", "7", True), ("10", "10", True), ("[", "7", False)],
)
def test_rhel_releases_match_as_bashs_regex_test(release: str, number: str, found: bool) -> None:
    assert builtin_element("dhcp-all-interfaces").release_is(release, number) is found
    bash = subprocess.run(["bash", "-c", '[[ "$1" =~ $2 ]]', "-", number, release], check=False)
    assert (bash.returncode == 0) is found


def test_cloud_image_interfaces_are_removed_but_loopbacks(tmp_path: Path) -> None:
    ctx = context(tmp_path, DISTRO_NAME="ubuntu", DIB_RELEASE="trusty")
    root = ctx.target_root
    for name in ("ifcfg-eth0", "ifcfg-lo", "ifcfg-loopback", "route-eth0"):
        (root / "etc/sysconfig/network-scripts").mkdir(parents=True, exist_ok=True)
        (root / "etc/sysconfig/network-scripts" / name).write_text("x\n")
    (root / "etc/network/interfaces.d").mkdir(parents=True)
    (root / "etc/network/interfaces.d/eth0").write_text("auto eth0\n")
    (root / "etc/network/interfaces.d/.hidden").write_text("kept: the shell's * skips it\n")
    (root / "etc/network/interfaces").write_text("auto eth0\n")
    (root / "etc/network/interfaces").chmod(0o600)
    builtin_element("dhcp-all-interfaces").remove_cloud_image_interfaces(ctx)
    left = sorted(p.name for p in (root / "etc/sysconfig/network-scripts").iterdir())
    assert left == ["ifcfg-lo", "ifcfg-loopback", "route-eth0"]
    assert [p.name for p in (root / "etc/network/interfaces.d").iterdir()] == [".hidden"]
    interfaces = root / "etc/network/interfaces"
    assert interfaces.read_text() == (
        "auto lo\niface lo inet loopback\n\nsource-directory interfaces.d\n\n"
    )
    assert interfaces.stat().st_mode & 0o777 == 0o600  # rewritten in place, as `>` does


def test_upstart_gets_dhcp_all_interfaces_job(tmp_path: Path) -> None:
    ctx = context(tmp_path, DIB_INIT_SYSTEM="upstart", DIB_DHCP_TIMEOUT="7")
    builtin_element("dhcp-all-interfaces").dhcp_all_interfaces(ctx)
    job = ctx.target_root / "etc/init/dhcp-all-interfaces.conf"
    assert job.stat().st_mode & 0o777 == 0o755  # DIB's install -m 0755, for a job file too
    assert "exec /usr/local/sbin/dhcp-all-interfaces.sh $INTERFACE" in job.read_text()
    assert (
        "local tries=7" in (ctx.target_root / "usr/local/sbin/dhcp-all-interfaces.sh").read_text()
    )
    assert not (ctx.target_root / "usr/lib/systemd").exists()


def test_network_manager_gets_its_config_and_may_do_it_all(tmp_path: Path) -> None:
    ctx = context(tmp_path, DIB_DHCP_NETWORK_MANAGER_AUTO="true", DIB_DHCP_TIMEOUT="60")
    (ctx.target_root / "etc/NetworkManager").mkdir(parents=True)
    builtin_element("dhcp-all-interfaces").dhcp_all_interfaces(ctx)
    conf = (ctx.target_root / "etc/NetworkManager/conf.d/00-main.conf").read_text()
    assert "\ndhcp=internal\n" in conf and "\nipv6.dhcp-timeout=60\n" in conf
    assert not (ctx.target_root / "usr").exists()  # no script, no unit: NetworkManager does it


def test_host_keys_are_found_as_find_finds_them(tmp_path: Path) -> None:
    ssh = tmp_path / "ssh"
    (ssh / "sub").mkdir(parents=True)
    for name in ("ssh_host_rsa_key", "ssh_host_rsa_key.pub", "sub/ssh_host_x", "sshd_config"):
        (ssh / name).write_text("x")
    (ssh / "ssh_host_link").symlink_to("sshd_config")
    (ssh / "ssh_host_dir").mkdir()
    found = builtin_element("runtime-ssh-host-keys").host_key_files(ssh)
    dib = subprocess.run(
        ["find", str(ssh), "-name", "ssh_host*", "-type", "f"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert [str(p) for p in found] == sorted(dib)
    assert len(found) == 3


def test_the_dev_user_key_defaults_to_the_building_users(tmp_path: Path) -> None:
    devuser = builtin_element("devuser")
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh/id_dsa.pub").write_text("ssh-dss B\n")
    ctx = context(tmp_path, HOME=str(tmp_path))
    assert devuser.public_keys(ctx.settings(devuser.DevUserSettings)) == "ssh-dss B\n"
    (tmp_path / ".ssh/id_rsa.pub").write_text("ssh-rsa A\n")
    assert devuser.public_keys(ctx.settings(devuser.DevUserSettings)) == "ssh-rsa A\n"
    ctx = context(tmp_path, HOME=str(tmp_path), DIB_DEV_USER_AUTHORIZED_KEYS="/dev/null")
    assert devuser.public_keys(ctx.settings(devuser.DevUserSettings)) is None


@pytest.mark.parametrize(
    ("word", "sudo"), [("yes", True), ("1", True), ("no", False), ("0", False)]
)
def test_passwordless_sudo_is_a_yes_no_value(tmp_path: Path, word: str, sudo: bool) -> None:
    devuser = builtin_element("devuser")
    ctx = context(tmp_path, DIB_DEV_USER_PWDLESS_SUDO=word)
    assert ctx.settings(devuser.DevUserSettings).pwdless_sudo is sudo


@pytest.mark.parametrize(
    ("element", "env", "said"),
    [
        ("devuser", {"DIB_DEV_USER_USERNAME": "../root"}, "DIB_DEV_USER_USERNAME='../root'"),
        ("devuser", {"DIB_DEV_USER_PWDLESS_SUDO": "maybe"}, "DIB_DEV_USER_PWDLESS_SUDO='maybe'"),
        ("growroot", {"DIB_INIT_SYSTEM": "sysv"}, "DIB_INIT_SYSTEM='sysv'"),
        ("openssh-server", {"DIB_OPENSSH_SERVER_HARDENING": "yes"}, "HARDENING='yes'"),
        ("dhcp-all-interfaces", {"DIB_DHCP_TIMEOUT": "soon"}, "DIB_DHCP_TIMEOUT='soon'"),
    ],
)
def test_bad_settings_are_refused_before_the_build(
    tmp_path: Path, element: str, env: dict[str, str], said: str
) -> None:
    """``dibpy build`` checks every element's settings before it starts: exit 2, the variable
    named, nothing built."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "dibpy",
            "build",
            "-o",
            str(tmp_path / "x"),
            "debian-minimal",
            element,
        ],
        capture_output=True,
        text=True,
        env=clean_env(tmp_path, **env),
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert said in result.stderr and "Traceback" not in result.stderr
    assert f"element {element!r}" in result.stderr
    assert not list(tmp_path.glob("x*"))


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("openssh-server", "DIB_OPENSSH_SERVER_HARDENING (int, default 1)"),
        ("runtime-ssh-host-keys", "cleanup:\n    90  remove_ssh_host_keys"),
        ("devuser", "DIB_DEV_USER_PWDLESS_SUDO (bool, default False)"),
        ("devuser", "DIB_DEV_USER_AUTHORIZED_KEYS (str, default '')"),
        ("dynamic-login", "install:\n    70  enable_dynamic_login_services"),
        ("growroot", "PACKAGES:   e2fsprogs growpart"),
        ("dhcp-all-interfaces", "DIB_DHCP_TIMEOUT (int, default 30)"),
        ("dhcp-all-interfaces", "DIB_DHCP_NETWORK_MANAGER_AUTO (str, default 'false')"),
    ],
)
def test_dibpy_show_describes_each_port(name: str, said: str) -> None:
    shown = dibpy_show(name)
    assert f"{name}  (built-in " in shown
    assert said in shown


@pytest.mark.parametrize("name", ["runtime-ssh-host-keys", "growroot", "dynamic-login"])
def test_the_files_in_the_image_are_dibs(name: str) -> None:
    """The scripts and units the image gets are DIB's, byte for byte, with DIB's modes."""
    ours = builtin_element(name).__file__
    assert ours is not None
    folder = Path(ours).parent
    for part in ("static", "init-scripts"):
        for path in (dib_elements() / name / part).rglob("*"):
            if path.is_file():
                mine = folder / path.relative_to(dib_elements() / name)
                assert mine.read_bytes() == path.read_bytes(), mine
                assert os.access(mine, os.X_OK) == os.access(path, os.X_OK), mine
