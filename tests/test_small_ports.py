"""The small ports of DIB's elements (element-manifest, epel, selinux-permissive,
disable-nouveau, journal-to-console, dib-python, stable-interface-names,
enable-serial-console): what tests/test_differential.py cannot
compare with DIB, because DIB's original fails there or needs a distribution dibpy does not
build; and their documentation.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import builtin_element, dibpy_show

from dibpy import BuildContext, BuildError, SettingsError
from dibpy.author import make_context

PORTS = (
    "element-manifest",
    "epel",
    "selinux-permissive",
    "disable-nouveau",
    "journal-to-console",
    "dib-python",
    "stable-interface-names",
    "enable-serial-console",
)
EPEL_REPO = """[epel]
name=Extra Packages for Enterprise Linux $releasever - $basearch
#baseurl=https://download.example/pub/epel/$releasever/Everything/$basearch/
metalink=https://mirrors.fedoraproject.org/metalink?repo=epel-$releasever&arch=$basearch
enabled=1

[epel-source]
#baseurl=http://download.example/pub/epel/$releasever/Everything/source/tree/
mirrorlist=https://mirrors.example/list
# metalink=kept, not at the start of the line
"""


def context(tmp_path: Path, **env: str) -> BuildContext:
    ctx = make_context(tmp_path, env=env)
    ctx.target_root.mkdir(exist_ok=True)
    return ctx


def test_the_epel_mirror_is_set_as_dibs_sed_sets_it(tmp_path: Path) -> None:
    mirror = "http://mirror.example/pub/epel"
    repo = tmp_path / "epel.repo"
    repo.write_text(EPEL_REPO)
    expression = (
        f"s|^#baseurl=http[s]*://.*/pub/epel|baseurl={mirror}|;/^mirrorlist=/d;/^metalink=/d"
    )
    subprocess.run(["sed", "-e", expression, "-i", str(repo)], check=True)
    ported = builtin_element("epel").use_mirror(EPEL_REPO, mirror)
    assert ported == repo.read_text()
    assert "baseurl=http://mirror.example/pub/epel/$releasever/Everything/$basearch/" in ported


@pytest.mark.parametrize("distro", ["debian", "ubuntu", ""])
def test_epel_does_nothing_off_rhel(tmp_path: Path, distro: str) -> None:
    ctx = context(tmp_path, DISTRO_NAME=distro, DIB_EPEL_DISABLED="1", DIB_EPEL_MIRROR="http://m")
    builtin_element("epel").rpm_epel_release(ctx)  # would fail: the tree has no yum
    assert list(ctx.target_root.iterdir()) == []


def test_selinux_permissive_makes_a_missing_etc_selinux(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    builtin_element("selinux-permissive").selinux_permissive(ctx)
    config = ctx.target_root / "etc/selinux/config"
    assert config.read_text() == "SELINUX=permissive\nSELINUXTYPE=targeted\n"
    assert (config.stat().st_mode & 0o777, config.parent.stat().st_mode & 0o777) == (0o644, 0o755)


def test_selinux_permissive_keeps_the_mode_of_a_config_there(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    config = ctx.target_root / "etc/selinux/config"
    config.parent.mkdir(parents=True)
    config.write_text("SELINUX=enforcing\nSELINUXTYPE=mls\nEXTRA=1\n")
    config.chmod(0o600)
    builtin_element("selinux-permissive").selinux_permissive(ctx)
    assert config.read_text() == "SELINUX=permissive\nSELINUXTYPE=targeted\n"
    assert config.stat().st_mode & 0o777 == 0o600


def test_dib_python_links_the_first_python_on_the_path_and_cleanup_removes_it(
    tmp_path: Path,
) -> None:
    ctx = context(tmp_path, DISTRO_NAME="ubuntu")
    for folder in ("usr/bin", "bin"):
        python = ctx.target_root / folder / "python3"
        python.parent.mkdir(parents=True)
        python.write_text("#!/bin/sh\n")
        python.chmod(0o755)
    (ctx.target_root / "usr/local/bin").mkdir(parents=True)
    (ctx.target_root / "usr/local/bin/dib-python").write_text("an old one\n")  # ln -sf
    element = builtin_element("dib-python")
    element.dib_python(ctx)
    link = ctx.target_root / "usr/local/bin/dib-python"
    assert link.readlink() == Path("/usr/bin/python3")
    element.remove_dib_python(ctx)
    assert not link.is_symlink()
    element.remove_dib_python(ctx)  # after a failed build: nothing to remove, no error


def test_dib_python_without_python_says_what_to_do(tmp_path: Path) -> None:
    ctx = context(tmp_path, DISTRO_NAME="ubuntu")
    (ctx.target_root / "usr/bin").mkdir(parents=True)
    (ctx.target_root / "usr/bin/python3").write_text("not executable\n")
    with pytest.raises(BuildError, match=r"no python3 on the image's PATH .* DIB_PYTHON_VERSION"):
        builtin_element("dib-python").dib_python(ctx)
    assert not (ctx.target_root / "usr/local/bin/dib-python").is_symlink()


def test_dib_python_refuses_a_version_its_interpreter_does_not_match(tmp_path: Path) -> None:
    ctx = context(tmp_path, DISTRO_NAME="ubuntu", DIB_PYTHON_VERSION="2")
    with pytest.raises(SettingsError, match="set DIB_PYTHON=python2 too"):
        builtin_element("dib-python").dib_python(ctx)


def test_dib_python_defaults_to_python3_everywhere() -> None:
    environment = builtin_element("dib-python").ENVIRONMENT
    assert environment == {"DIB_PYTHON_VERSION": "3", "DIB_PYTHON": "python3"}


INITTAB = """id:3:initdefault:
#s0:12345:respawn:/sbin/agetty -L 115200 ttyS0 vt100
# T1:23:respawn:/sbin/getty -L ttyS1 9600 vt100
#c2:2345:respawn:/sbin/agetty 38400 tty2 linux
#x:1:once:/bin/echo ttyS,5
"""


def test_the_inittab_is_edited_as_dibs_sed_and_echo_edit_it(tmp_path: Path) -> None:
    inittab = tmp_path / "inittab"
    inittab.write_text(INITTAB)
    subprocess.run(["sed", "-r", r"s/^#(.*ttyS[0,1].*$)/\1/", "-i", str(inittab)], check=True)
    expected = inittab.read_text() + (
        "# diskimage-builder serial console\ns0:12345:respawn:/sbin/agetty -L 115200 hvc0 vt100\n"
    )
    assert builtin_element("enable-serial-console").with_serial_getty(INITTAB, "hvc0") == expected


@pytest.mark.parametrize(
    ("arch", "console"),
    [("amd64", "ttyS0"), ("arm64", "ttyAMA0"), ("ppc64le", "hvc0"), ("ppc64", "hvc0")],
)
def test_the_openrc_console_follows_the_architecture(arch: str, console: str) -> None:
    assert builtin_element("enable-serial-console").default_console(arch) == console


def test_openrc_without_an_inittab_says_what_to_do(tmp_path: Path) -> None:
    ctx = context(tmp_path, DIB_INIT_SYSTEM="openrc")
    with pytest.raises(BuildError, match="no /etc/inittab"):
        builtin_element("enable-serial-console").serial_console(ctx)


def test_a_real_net_name_slot_rules_file_is_kept(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    rules = ctx.target_root / "etc/udev/rules.d/80-net-name-slot.rules"
    rules.parent.mkdir(parents=True)
    rules.write_text("# local rules\n")
    builtin_element("stable-interface-names").stable_interface_names(ctx)
    assert rules.read_text() == "# local rules\n"


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("element-manifest", "DIB_ELEMENT_MANIFEST_PATH (str, default '')"),
        ("epel", "DIB_EPEL_MIRROR (str, default '')"),
        ("epel", "DIB_EPEL_DISABLED (int, default 0)"),
        ("dib-python", "DIB_PYTHON_VERSION (str, default '3')"),
        ("disable-nouveau", "DEPENDS:    modprobe"),
        ("journal-to-console", "post-install:\n    30  journal_to_console"),
        ("selinux-permissive", "pre-install:\n    11  selinux_permissive"),
        ("stable-interface-names", "PACKAGES:   biosdevname"),
        ("enable-serial-console", "DIB_BOOTLOADER_SERIAL_CONSOLE (str, default '')"),
    ],
)
def test_dibpy_show_describes_each_port(name: str, said: str) -> None:
    shown = dibpy_show(name)
    assert f"{name}  (built-in " in shown
    assert said in shown
