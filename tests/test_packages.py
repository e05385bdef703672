"""Package declarations: DIB's package-installs rules and pkg-map, as pure functions."""

from __future__ import annotations

import pytest

from dibpy.errors import ElementLoadError, SettingsError
from dibpy.packages import PackageOptions, map_names, parse_packages, squash
from dibpy.phases import Phase


def test_phases_and_default_phase() -> None:
    result = squash({"a": {"curl": None, "lsb-release": {"phase": "pre-install.d"}}}, "amd64", {})
    assert result[Phase.INSTALL].install == ["curl"]
    assert result[Phase.PRE_INSTALL].install == ["lsb-release"]
    assert result[Phase.POST_INSTALL].install == []


def test_arch_and_not_arch_filters() -> None:
    declared = {
        "a": {
            "k-amd": {"arch": "amd64"},
            "k-arm": {"arch": "arm64, armhf"},
            "not-arm": {"not-arch": "arm64"},
        }
    }
    assert squash(declared, "amd64", {})[Phase.INSTALL].install == ["k-amd", "not-arm"]
    assert squash(declared, "armhf", {})[Phase.INSTALL].install == ["k-arm", "not-arm"]
    with pytest.raises(SettingsError, match="both 'arch' and 'not-arch'"):
        PackageOptions.model_validate({"arch": "amd64", "not-arch": "arm64"}).applies("amd64", {})


def test_when_conditions() -> None:
    declared = {
        "a": {"generic": {"when": "KERNEL = generic"}, "other": {"when": "KERNEL != generic"}}
    }
    assert squash(declared, "amd64", {"KERNEL": "generic"})[Phase.INSTALL].install == ["generic"]
    assert squash(declared, "amd64", {"KERNEL": "kvm"})[Phase.INSTALL].install == ["other"]
    with pytest.raises(SettingsError, match="KERNEL"):
        squash(declared, "amd64", {})


def test_conflict_rules_of_package_installs_squash() -> None:
    declared = {
        "a": {"gcc": {"uninstall": True}, "make": {"build-only": True}},
        "b": {"gcc": None, "vim": None},
        "c": {"vim": {"uninstall": True}},
    }
    lists = squash(declared, "amd64", {})[Phase.INSTALL]
    assert lists.install == ["make", "gcc", "vim"]  # a later install cancels the uninstall
    assert lists.uninstall == ["make"]  # build-only: installed, then removed; vim kept


def test_list_of_option_maps_and_bad_options() -> None:
    entries = parse_packages("a", {"p": [{"phase": "install"}, {"phase": "post-install"}]})
    assert [o.phase for _, o in entries] == [Phase.INSTALL, Phase.POST_INSTALL]
    with pytest.raises(ElementLoadError, match=r"'p'.*bogus"):
        parse_packages("a", {"p": {"bogus": 1}})
    with pytest.raises(ElementLoadError, match="PACKAGES must map"):
        parse_packages("a", ["p"])


def test_pkg_map_precedence_and_skips() -> None:
    pkg_map = {
        "default": {"iscsi": "open-iscsi", "growroot": ""},
        "family": {"redhat": {"iscsi": "iscsi-initiator-utils"}},
        "distro": {"ubuntu": {"editor": "vim-tiny"}},
        "release": {"debian": {"bullseye": {"growroot": "cloud-initramfs-growroot"}}},
    }
    assert map_names(["iscsi", "growroot", "x"], pkg_map, "debian", "bookworm") == [
        "open-iscsi",
        "x",
    ]
    assert map_names(["growroot"], pkg_map, "debian", "bullseye") == ["cloud-initramfs-growroot"]
    assert map_names(["iscsi"], pkg_map, "centos", "9") == ["iscsi-initiator-utils"]
    assert map_names(["editor"], pkg_map, "ubuntu", "noble") == ["vim-tiny"]
    assert map_names(["two"], {"default": {"two": "a b"}}, "debian", "x") == ["a", "b"]


def test_the_built_in_debian_set_installs_what_dib_installs() -> None:
    import dibpy
    from dibpy.packages import map_names as mapper

    plan = dibpy.plan(["vm", "debian-minimal"], env={"DIB_RELEASE": "bookworm"})
    modules = {e.name: e.module for e in plan.element_set.elements}
    declared = {n: m.PACKAGES for n, m in modules.items() if hasattr(m, "PACKAGES")}
    maps = {n: m.PKG_MAP for n, m in modules.items() if hasattr(m, "PKG_MAP")}
    lists = squash(
        declared, "amd64", {}, lambda e, p: mapper([p], maps.get(e), "debian", "bookworm")
    )
    assert sorted(lists[Phase.INSTALL].install) == sorted(
        ["linux-image-amd64", "netbase", "adduser", "ca-certificates", "locales"]
    )
    assert lists[Phase.PRE_INSTALL].install == ["lsb-release"]
