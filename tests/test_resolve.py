"""Element resolution: DEPENDS, PROVIDES, CONFLICTS, the operating-system rule, defaults.

Most tests use an in-memory catalog of ``Element`` objects (resolution is pure); the ones
about error messages and the built-in graph go through real element files.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest
from conftest import make_element

import dibpy
from dibpy.elements import Element, ElementIndex, Origin, resolve, with_defaults
from dibpy.errors import ElementNotFoundError, InputError, ResolutionError


def el(
    name: str,
    depends: Iterable[str] = (),
    provides: Iterable[str] = (),
    conflicts: Iterable[str] = (),
) -> Element:
    return Element(
        name=name,
        origin=Origin("path", f"/memory/{name}.py"),
        doc=f"The {name} element.",
        depends=tuple(depends),
        provides=tuple(provides),
        conflicts=tuple(conflicts),
    )


class Catalog:
    """The smallest thing ``resolve`` accepts: a dict of elements."""

    def __init__(self, *elements: Element) -> None:
        self.elements = {e.name: e for e in elements}
        self.loaded: list[str] = []

    def get(self, name: str) -> Element:
        if name not in self.elements:
            raise self.not_found(name)
        self.loaded.append(name)
        return self.elements[name]

    def not_found(self, name: str, needed_by: str | None = None) -> ElementNotFoundError:
        return ElementNotFoundError(f"missing {name} (needed by {needed_by})")

    def providers(self, virtual: str) -> list[str]:
        return sorted(n for n, e in self.elements.items() if virtual in e.provides)


OS = el("os", provides=["operating-system"])


def names(requested: list[str], *elements: Element) -> tuple[str, ...]:
    return resolve(requested, Catalog(OS, *elements)).names


# --- DEPENDS -----------------------------------------------------------------------------


def test_transitive_depends_breadth_first() -> None:
    catalog = Catalog(
        OS,
        el("a", depends=["b", "c"]),
        el("b", depends=["d"]),
        el("c", depends=["e"]),
        el("d", depends=["f"]),
        el("e"),
        el("f"),
        el("unused"),
    )
    result = resolve(["os", "a"], catalog)
    assert result.names == ("os", "a", "b", "c", "d", "e", "f")
    assert [e.name for e in result.elements] == list(result.names)


def test_shared_dependency_appears_once() -> None:
    assert names(["os", "a", "b"], el("a", ["c"]), el("b", ["c"]), el("c")) == (
        "os",
        "a",
        "b",
        "c",
    )


def test_duplicates_in_the_request_are_resolved_once() -> None:
    assert names(["os", "a", "a", "os", "b"], el("a", ["b"]), el("b")) == ("os", "a", "b")


@pytest.mark.parametrize(
    ("elements", "expected"),
    [
        ((el("a", ["b"]), el("b", ["a"])), ("os", "a", "b")),
        ((el("a", ["a"]),), ("os", "a")),
        ((el("a", ["b"]), el("b", ["c"]), el("c", ["a", "os"])), ("os", "a", "b", "c")),
    ],
    ids=["a-b-cycle", "self-dependency", "three-cycle"],
)
def test_cycles_resolve_once(elements: tuple[Element, ...], expected: tuple[str, ...]) -> None:
    assert names(["os", "a"], *elements) == expected


def test_resolution_is_deterministic() -> None:
    elements = [el("a", ["d", "c", "b"]), el("b", ["e"]), el("c", ["e", "d"]), el("d"), el("e")]
    first = names(["os", "a"], *elements)
    assert first == ("os", "a", "d", "c", "b", "e")
    for _ in range(5):
        assert names(["os", "a"], *elements) == first


def test_no_elements_is_an_error() -> None:
    with pytest.raises(ResolutionError, match="No elements"):
        resolve([], Catalog(OS))


# --- PROVIDES ----------------------------------------------------------------------------


def test_a_provider_satisfies_a_dependency() -> None:
    catalog = Catalog(OS, el("a", ["virt"]), el("p", provides=["virt"]))
    result = resolve(["os", "a", "p"], catalog)
    assert result.names == ("os", "a", "p")
    assert result.provided == {"operating-system": "os", "virt": "p"}


def test_a_provider_pulled_in_later_by_a_dependency_satisfies_an_earlier_need() -> None:
    # a needs virt (not a real element); the provider is only found a level deeper.
    catalog = Catalog(OS, el("a", ["virt", "b"]), el("b", ["p"]), el("p", provides=["virt"]))
    assert resolve(["os", "a"], catalog).names == ("os", "a", "b", "p")


def test_a_virtual_dependency_without_provider_is_not_found() -> None:
    with pytest.raises(ElementNotFoundError, match=r"missing virt \(needed by a\)"):
        names(["os", "a"], el("a", ["virt"]))


def test_provider_wins_over_a_real_element_of_that_name() -> None:
    catalog = Catalog(
        OS,
        el("a", ["virt"]),
        el("p", provides=["virt"]),
        el("virt", ["heavy"]),
        el("heavy"),
    )
    assert resolve(["os", "p", "a"], catalog).names == ("os", "p", "a")


def test_provider_wins_even_when_the_real_element_is_reached_first() -> None:
    # Breadth-first, "virt" (level 2, via a) comes before the provider p (level 3, via b).
    catalog = Catalog(
        OS,
        el("a", ["virt", "b"]),
        el("b", ["p"]),
        el("p", provides=["virt"]),
        el("virt", ["heavy"]),
        el("heavy"),
    )
    result = resolve(["os", "a"], catalog)
    assert result.names == ("os", "a", "b", "p")
    assert "virt" not in result.names
    assert "heavy" not in result.names
    assert result.provided["virt"] == "p"


def test_two_operating_systems_are_an_error_naming_both() -> None:
    other = el("other-os", provides=["operating-system"])
    with pytest.raises(ResolutionError) as caught:
        names(["os", "a"], el("a", ["other-os"]), other)
    message = str(caught.value)
    assert "'os'" in message
    assert "'other-os'" in message
    assert "operating-system" in message


def test_no_operating_system_is_an_error_naming_the_providers() -> None:
    catalog = Catalog(
        OS,
        el("linux", provides=["operating-system"]),
        el("a"),
    )
    with pytest.raises(ResolutionError) as caught:
        resolve(["a"], catalog)
    message = str(caught.value)
    assert "operating-system" in message
    assert "linux" in message
    assert "os" in message.split("provide it:")[1]


def test_a_name_provided_twice_is_an_error_naming_both_providers() -> None:
    with pytest.raises(ResolutionError) as caught:
        names(["os", "p1", "p2"], el("p1", provides=["virt"]), el("p2", provides=["virt"]))
    message = str(caught.value)
    assert "'virt'" in message
    assert "'p1'" in message
    assert "'p2'" in message


@pytest.mark.parametrize(
    ("requested", "virtual", "provider"),
    [
        (["os", "operating-system"], "operating-system", "os"),
        (["os", "bd-mbr", "block-device"], "block-device", "bd-mbr"),
        (["block-device", "os", "bd-mbr"], "block-device", "bd-mbr"),
    ],
)
def test_asking_for_a_provided_virtual_name_is_an_error(
    requested: list[str], virtual: str, provider: str
) -> None:
    with pytest.raises(ResolutionError) as caught:
        names(requested, el("bd-mbr", provides=["block-device"]))
    assert f"'{virtual}'" in str(caught.value)
    assert f"'{provider}'" in str(caught.value)


def test_asking_for_a_provided_name_that_is_also_a_real_element_is_an_error() -> None:
    with pytest.raises(ResolutionError, match=r"'virt'.*'p'"):
        names(["os", "virt", "p"], el("virt"), el("p", provides=["virt"]))


# --- CONFLICTS ---------------------------------------------------------------------------


@pytest.mark.parametrize("holder", ["a", "b"])
def test_conflicting_elements_are_an_error(holder: str) -> None:
    other = "b" if holder == "a" else "a"
    elements = [el(holder, conflicts=[other]), el(other)]
    with pytest.raises(ResolutionError) as caught:
        names(["os", "a", "b"], *elements)
    assert f"{holder!r} conflicts with {other!r}" in str(caught.value)


def test_a_conflict_pulled_in_by_a_dependency_is_an_error() -> None:
    with pytest.raises(ResolutionError, match="'a' conflicts with 'c'"):
        names(["os", "a", "b"], el("a", conflicts=["c"]), el("b", ["c"]), el("c"))


def test_a_conflict_with_a_provided_virtual_name_is_an_error() -> None:
    elements = [el("a", conflicts=["block-device"]), el("bd", provides=["block-device"])]
    with pytest.raises(ResolutionError, match="'a' conflicts with 'block-device'"):
        names(["os", "a", "bd"], *elements)


def test_a_conflict_with_an_absent_element_is_fine() -> None:
    assert names(["os", "a"], el("a", conflicts=["b", "block-device"]), el("b")) == ("os", "a")


# --- with_defaults -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("names_", "arch", "skip_base", "expected"),
    [
        (["vm", "ubuntu"], "amd64", False, ["base", "vm", "ubuntu", "block-device-mbr"]),
        (["vm", "ubuntu"], "arm64", False, ["base", "vm", "ubuntu", "block-device-efi"]),
        (["vm", "ubuntu"], "amd64", True, ["vm", "ubuntu", "block-device-mbr"]),
        (["ubuntu"], "amd64", False, ["base", "ubuntu"]),
        (["ubuntu"], "amd64", True, ["ubuntu"]),
        (
            ["vm", "block-device-gpt", "ubuntu"],
            "amd64",
            False,
            ["base", "vm", "block-device-gpt", "ubuntu"],
        ),
        (
            ["vm", "block-device-custom", "ubuntu"],
            "arm64",
            True,
            ["vm", "block-device-custom", "ubuntu"],
        ),
        (["ubuntu", "base"], "amd64", False, ["ubuntu", "base"]),
        (["my-vm", "ubuntu"], "amd64", True, ["my-vm", "ubuntu"]),
    ],
)
def test_with_defaults(names_: list[str], arch: str, skip_base: bool, expected: list[str]) -> None:
    assert with_defaults(names_, arch, skip_base=skip_base) == expected


def test_with_defaults_does_not_change_its_argument() -> None:
    given = ["vm", "ubuntu"]
    with_defaults(given, "amd64", skip_base=False)
    assert given == ["vm", "ubuntu"]


# --- through real element files ----------------------------------------------------------


def index_of(*directories: Path) -> ElementIndex:
    return ElementIndex.discover(list(directories), "", use_entry_points=False)


def test_real_files_resolve_breadth_first(element_dir: Path) -> None:
    make_element(element_dir, "app", 'DEPENDS = ["lib-one", "lib-two"]\n')
    make_element(element_dir, "lib-one", 'DEPENDS = ["lib-three"]\n')
    make_element(element_dir, "lib-two", "")
    make_element(element_dir, "lib-three", 'DEPENDS = ["app"]\n')
    result = resolve(["test-os", "app"], index_of(element_dir))
    assert result.names == ("test-os", "app", "lib-one", "lib-two", "lib-three")


def test_unknown_element_says_where_it_looked_and_suggests_close_names(
    element_dir: Path,
) -> None:
    index = index_of(element_dir)
    with pytest.raises(ElementNotFoundError) as caught:
        resolve(["ubuntu-minmal"], index)
    message = str(caught.value)
    assert "'ubuntu-minmal'" in message
    assert str(element_dir) in message
    assert str(dibpy.elements.builtin_elements_dir()) in message
    assert "Did you mean 'ubuntu-minimal'" in message
    assert isinstance(caught.value, InputError)
    assert caught.value.exit_code == 2


def test_unknown_dependency_names_the_element_that_needed_it(element_dir: Path) -> None:
    make_element(element_dir, "needy", 'DEPENDS = ["nowhere-to-be-found"]\n')
    with pytest.raises(ElementNotFoundError) as caught:
        resolve(["test-os", "needy"], index_of(element_dir))
    message = str(caught.value)
    assert "'nowhere-to-be-found'" in message
    assert "needed by 'needy'" in message


def test_no_operating_system_through_files_lists_the_real_providers(element_dir: Path) -> None:
    make_element(element_dir, "app", "")
    with pytest.raises(ResolutionError) as caught:
        resolve(["app"], index_of(element_dir))
    message = str(caught.value)
    assert "operating-system" in message
    for provider in ("test-os", "ubuntu", "ubuntu-minimal", "debian-minimal"):
        assert provider in message


def test_provider_wins_over_a_real_element_through_files(element_dir: Path) -> None:
    make_element(element_dir, "app", 'DEPENDS = ["service", "middle"]\n')
    make_element(element_dir, "middle", 'DEPENDS = ["service-impl"]\n')
    make_element(element_dir, "service-impl", 'PROVIDES = ["service"]\n')
    make_element(element_dir, "service", 'DEPENDS = ["heavy"]\n')
    make_element(element_dir, "heavy", "")
    result = resolve(["test-os", "app"], index_of(element_dir))
    assert result.names == ("test-os", "app", "middle", "service-impl")


# --- the built-in graph ------------------------------------------------------------------

COMMON = {
    "base",
    "bootloader",
    "dib-init-system",
    "dpkg",
    "install-bin",
    "install-types",
    "manifests",
    "package-installs",
    "pkg-map",
    "sysprep",
    "vm",
}
UBUNTU_MINIMAL = COMMON | {
    "block-device-mbr",
    "debootstrap",
    "modprobe",
    "ubuntu-common",
    "ubuntu-minimal",
}
UBUNTU = COMMON | {
    "block-device-mbr",
    "cache-url",
    "cloud-init-datasources",
    "dkms",
    "ubuntu",
    "ubuntu-common",
}
DEBIAN_MINIMAL = COMMON | {"block-device-mbr", "debian-minimal", "debootstrap", "modprobe"}


@pytest.mark.parametrize(
    ("requested", "arch", "expected"),
    [
        (["vm", "ubuntu-minimal"], "amd64", UBUNTU_MINIMAL),
        (["vm", "ubuntu"], "amd64", UBUNTU),
        (["vm", "debian-minimal"], "amd64", DEBIAN_MINIMAL),
        (
            ["vm", "ubuntu-minimal"],
            "arm64",
            UBUNTU_MINIMAL - {"block-device-mbr"} | {"block-device-efi"},
        ),
        (
            ["vm", "debian-minimal"],
            "aarch64",
            DEBIAN_MINIMAL - {"block-device-mbr"} | {"block-device-efi"},
        ),
        (
            ["vm", "block-device-gpt", "debian-minimal"],
            "amd64",
            DEBIAN_MINIMAL - {"block-device-mbr"} | {"block-device-gpt"},
        ),
    ],
)
def test_builtin_element_sets_match_dib(
    requested: list[str], arch: str, expected: set[str]
) -> None:
    plan = dibpy.plan(requested, arch=arch, env={})
    assert sorted(plan.elements) == sorted(expected)
    assert len(plan.elements) == len(expected)


def test_builtin_sizes_are_dibs() -> None:
    sizes = [
        len(dibpy.plan(["vm", os_], arch="amd64", env={}).elements)
        for os_ in ("ubuntu-minimal", "ubuntu", "debian-minimal")
    ]
    assert sizes == [16, 17, 15]


def test_arch_comes_from_the_given_env_not_the_host() -> None:
    plan = dibpy.plan(["vm", "ubuntu-minimal"], env={"ARCH": "arm64"})
    assert "block-device-efi" in plan.elements
    assert "block-device-mbr" not in plan.elements


def test_elements_path_of_the_given_env_is_used(element_dir: Path) -> None:
    make_element(element_dir, "extra", '"""Only in ELEMENTS_PATH."""\n')
    env = {"ELEMENTS_PATH": str(element_dir)}
    plan = dibpy.plan(["test-os", "extra"], skip_base=True, env=env)
    assert plan.elements == ("test-os", "extra")
    with pytest.raises(ElementNotFoundError):
        dibpy.plan(["test-os", "extra"], skip_base=True, env={})


def test_skip_base_leaves_base_out() -> None:
    plan = dibpy.plan(["debian-minimal"], skip_base=True, arch="amd64", env={})
    assert "base" not in plan.elements
    assert plan.elements[0] == "debian-minimal"


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        (["vm", "ubuntu", "operating-system"], "'operating-system'"),
        (["vm", "ubuntu", "block-device"], "'block-device'"),
        (["vm", "ubuntu", "debian-minimal"], "'ubuntu' and 'debian-minimal'"),
        (["vm", "block-device-gpt", "block-device-efi", "ubuntu"], "'block-device'"),
        (["vm"], "operating-system"),
    ],
)
def test_builtin_combinations_that_are_refused(requested: list[str], expected: str) -> None:
    with pytest.raises(ResolutionError) as caught:
        dibpy.plan(requested, arch="amd64", env={})
    assert expected in str(caught.value)


def test_builtin_order_does_not_depend_on_the_hash_seed(tmp_path: Path) -> None:
    code = (
        "import dibpy; print(' '.join(dibpy.plan(['vm', 'ubuntu'], arch='amd64', env={}).elements))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(outputs) == 1
    assert outputs.pop().split()[:4] == ["base", "vm", "ubuntu", "block-device-mbr"]
