"""The service ports (openssh-server, runtime-ssh-host-keys, devuser, dynamic-login, growroot,
dhcp-all-interfaces) build the Debian tree their DIB 3.43 originals build.

They install packages, add users and enable systemd units, so they are compared on real
Debian bookworm (``on=REAL_DEBIAN``, tests/differential.py): one pair of builds holds all
six, with every devuser variable set, compared after every phase and finished, with the
installed packages and the enabled units. What they do at boot (host keys made, the root
file system grown, sshd answering, the dev user logging in) is proved by a boot in
tests/test_vm_images.py.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from conftest import REPO
from differential import FINAL, REAL_DEBIAN, Pair, Port, build_pair, dib_elements
from root_helpers import needs_root

from dibpy.tree.diff import Allowance

pytestmark = [pytest.mark.slow, pytest.mark.root]

USER = "stack"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDibpyTestKeyNotARealOneAtAllJustText dibpy@test\n"
PORTS = {
    port.name: port
    for port in (
        Port("openssh-server"),
        Port("runtime-ssh-host-keys"),
        Port(
            "devuser",
            (
                Allowance(
                    "/etc/shadow",
                    "chpasswd hashes DIB_DEV_USER_PASSWORD with a random salt: any two builds "
                    "differ here, DIB's too",
                    ("sha256",),
                ),
            ),
        ),
        Port("dynamic-login"),
        Port("growroot"),
        Port("dhcp-all-interfaces"),
    )
}
DEVUSER_SETTINGS = {
    "DIB_DEV_USER_USERNAME": USER,
    "DIB_DEV_USER_GROUPS": "adm,users",
    "DIB_DEV_USER_SHELL": "/bin/bash",
    "DIB_DEV_USER_PWDLESS_SUDO": "yes",
    "DIB_DEV_USER_PASSWORD": "dibpy-secret",
}


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory, debian_image_cache: Path) -> Pair:
    base = tmp_path_factory.mktemp("services")
    keys = base / "authorized_keys"
    keys.write_text(KEY)
    env = {
        "DIB_RELEASE": "bookworm",
        "DIB_IMAGE_CACHE": str(debian_image_cache),
        "DIB_DEV_USER_AUTHORIZED_KEYS": str(keys),
        "DIB_DHCP_TIMEOUT": "45",
        **DEVUSER_SETTINGS,
    }
    pair = build_pair(base, list(PORTS.values()), env, on=REAL_DEBIAN)
    pair.scenario = "services"
    return pair


@needs_root
def test_each_port_builds_the_tree_of_its_dib_original(pair: Pair) -> None:
    problems = pair.check()
    assert problems == [], "left: DIB's original, right: the port\n" + "\n".join(problems)
    assert len(pair.comparisons) == 11  # ten phases and the finished tree


@needs_root
def test_each_side_built_what_it_says(pair: Pair) -> None:
    """The ports came from elements/, the originals from DIB's folders forced on the path."""
    for tree, kind in ((pair.ported, "built-in"), (pair.dib, "path")):
        manifest = json.loads((tree.root.parent / "image.manifest.json").read_text())
        origins = {e["name"]: (e["origin"], e["location"]) for e in manifest["elements"]}
        for name in PORTS:
            origin, location = origins[name]
            assert origin == kind, name
            if kind == "path":
                assert Path(location) == tree.root.parent.parent / "dib-originals" / name
                assert (dib_elements() / name).is_dir()
            else:
                assert REPO / "elements" in Path(location).parents, location


def read(pair: Pair, path: str) -> str:
    return (pair.ported.root / path.lstrip("/")).read_text()


@needs_root
def test_packages_and_units_are_the_ports_work(pair: Pair) -> None:
    """Equal package and unit sets that hold what the elements install and enable."""
    wanted = {"openssh-server", "openssh-client", "sudo", "cloud-utils", "e2fsprogs"}
    wanted |= {"isc-dhcp-client", "ifupdown", "ndisc6"}
    assert wanted <= pair.ported.packages == pair.dib.packages
    units = {
        f"multi-user.target.wants/{unit}"
        for unit in (
            "ssh.service",
            "ssh-keygen.service",
            "growroot.service",
            "dynamic-login.service",
        )
    }
    assert units <= pair.ported.enabled_units == pair.dib.enabled_units


@needs_root
def test_host_keys_were_made_and_removed(pair: Pair) -> None:
    """openssh-server's package made host keys in the build; the finished tree has none."""
    made = [p for p in pair.ported.states["04-post-install"] if p.startswith("/etc/ssh/ssh_host_")]
    assert "/etc/ssh/ssh_host_ed25519_key" in made
    assert not [p for p in pair.ported.states[FINAL] if p.startswith("/etc/ssh/ssh_host_")]
    script = pair.ported.states[FINAL]["/usr/local/sbin/runtime-ssh-host-keys.sh"]
    assert script.mode == 0o755
    assert "Before=ssh.service" in read(pair, "/usr/lib/systemd/system/ssh-keygen.service")


@needs_root
def test_sshd_is_hardened(pair: Pair) -> None:
    config = read(pair, "/etc/ssh/sshd_config")
    kex, ciphers, macs = (config.index(f"\n{k} ") for k in ("KexAlgorithms", "Ciphers", "MACs"))
    assert config.index("# Ciphers and keying") < kex < ciphers < macs
    assert "\nCiphers chacha20-poly1305@openssh.com," in config


@needs_root
def test_the_dev_user_has_its_shell_groups_sudo_and_key(pair: Pair) -> None:
    final = pair.ported.states[FINAL]
    passwd = {
        line.split(":")[0]: line.split(":") for line in read(pair, "/etc/passwd").splitlines()
    }
    uid, gid, home, shell = (
        int(passwd[USER][2]),
        int(passwd[USER][3]),
        passwd[USER][5],
        passwd[USER][6],
    )
    assert (home, shell) == (f"/home/{USER}", "/bin/bash")
    groups = {
        line.split(":")[0]: line.split(":")[3].split(",")
        for line in read(pair, "/etc/group").splitlines()
    }
    assert USER in groups["adm"] and USER in groups["users"]
    shadow = {
        line.split(":")[0]: line.split(":")[1] for line in read(pair, "/etc/shadow").splitlines()
    }
    assert shadow[USER].startswith("$")  # a password hash, not the password
    assert "dibpy-secret" not in read(pair, "/etc/shadow")
    sudoers = final[f"/etc/sudoers.d/{USER}"]
    assert stat.S_IMODE(sudoers.mode) == 0o440
    assert read(pair, f"/etc/sudoers.d/{USER}") == f"{USER} ALL=(ALL) NOPASSWD:ALL\n"
    keys = final[f"/home/{USER}/.ssh/authorized_keys"]
    assert (keys.uid, keys.gid) == (uid, gid)
    assert read(pair, f"/home/{USER}/.ssh/authorized_keys") == KEY


@needs_root
def test_growroot_and_dynamic_login_are_installed(pair: Pair) -> None:
    final = pair.ported.states[FINAL]
    for script in ("/usr/local/sbin/growroot", "/usr/local/bin/dynamic-login"):
        assert final[script].mode == 0o755, script
    assert "growpart $disk $part_no" in read(pair, "/usr/local/sbin/growroot")
    assert "ExecStart=/usr/local/bin/dynamic-login" in read(
        pair, "/usr/lib/systemd/system/dynamic-login.service"
    )


@needs_root
def test_dhcp_all_interfaces_with_its_timeout(pair: Pair) -> None:
    script = read(pair, "/usr/local/sbin/dhcp-all-interfaces.sh")
    assert script.count("local tries=45") == 1 and script.count("tries=45") == 2
    assert "DIB_DHCP_TIMEOUT" not in script
    unit = read(pair, "/usr/lib/systemd/system/dhcp-interface@.service")
    assert "\nTimeoutStartSec=90s\n" in unit
    assert "dhcp-interface@$name.service" in read(
        pair, "/etc/udev/rules.d/99-dhcp-all-interfaces.rules"
    )
    assert read(pair, "/etc/dhcp/dhclient.conf").endswith(
        '# "timeout" Value set by dhcp-all-interfaces\ntimeout 45;\n'
    )
    assert read(pair, "/etc/network/interfaces") == (
        "auto lo\niface lo inet loopback\n\nsource /etc/network/interfaces.d/*\n\n"
    )
    assert not list((pair.ported.root / "etc/network/interfaces.d").iterdir())
