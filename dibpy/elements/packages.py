"""Packages elements declare (DIB's package-installs.yaml and pkg-map), worked out per phase.

An element declares, beside its hooks::

    PACKAGES = {
        "linux-image-amd64": {"arch": "amd64"},
        "lsb-release": {"phase": "pre-install"},
        "build-essential": {"build-only": True},
        "netbase": None,
    }
    PKG_MAP = {"family": {"debian": {"iscsi_package": "open-iscsi"}}}

The package-installs element installs each phase's packages in one apt transaction and
removes the uninstall list in another, as DIB's package-installs-v2 does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dibpy.errors import ElementLoadError, SettingsError
from dibpy.phases import Phase

PACKAGE_PHASES = (Phase.PRE_INSTALL, Phase.INSTALL, Phase.POST_INSTALL)
FAMILIES = {
    "debian": "debian",
    "ubuntu": "debian",
    "fedora": "redhat",
    "centos": "redhat",
    "rhel": "redhat",
    "rocky": "redhat",
    "almalinux": "redhat",
    "opensuse": "suse",
    "gentoo": "gentoo",
}


class PackageOptions(BaseModel):
    """The options of one package-installs entry."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    phase: Phase = Phase.INSTALL
    uninstall: bool = False
    build_only: bool = Field(False, alias="build-only")
    arch: tuple[str, ...] = ()
    not_arch: tuple[str, ...] = Field((), alias="not-arch")
    when: tuple[str, ...] = ()
    # DIB's: the entry applies only when DIB_PYTHON_VERSION is this (svc-map's PyYAML)
    dib_python_version: str = ""

    @field_validator("dib_python_version", mode="before")
    @classmethod
    def _version(cls, value: object) -> object:
        return str(value) if isinstance(value, int) else value

    @field_validator("phase", mode="before")
    @classmethod
    def _phase(cls, value: object) -> object:
        # DIB writes phase folders ("install.d"); accept both spellings.
        return value.removesuffix(".d") if isinstance(value, str) else value

    @field_validator("phase")
    @classmethod
    def _package_phase(cls, value: Phase) -> Phase:
        if value not in PACKAGE_PHASES:
            raise ValueError(
                f"packages are installed in the {', '.join(PACKAGE_PHASES)} phases, not {value}"
            )
        return value

    @field_validator("arch", "not_arch", "when", mode="before")
    @classmethod
    def _list(cls, value: object) -> object:
        if isinstance(value, str):
            separator = "," if "," in value else None
            return (
                tuple(v.strip() for v in value.split(separator) if v.strip())
                if separator
                else (value.strip(),)
            )
        return value

    def applies(self, arch: str, env: Mapping[str, str]) -> bool:
        if self.arch and self.not_arch:
            raise SettingsError("A package entry gives both 'arch' and 'not-arch'; use one.")
        if self.arch and arch not in self.arch:
            return False
        if self.not_arch and arch in self.not_arch:
            return False
        if self.dib_python_version and self.dib_python_version != env.get("DIB_PYTHON_VERSION"):
            return False
        return all(_condition_holds(c, env) for c in self.when)


def _condition_holds(condition: str, env: Mapping[str, str]) -> bool:
    """DIB's ``when: "VAR = value"`` / ``"VAR != value"``."""
    for operator in ("!=", "="):
        name, sep, value = condition.partition(operator)
        if sep:
            name, value = name.strip(), value.strip()
            if name not in env:
                raise SettingsError(
                    f"A package condition {condition!r} reads {name}, which is not set. "
                    "Set it, or give the element a default in ENVIRONMENT."
                )
            return (env[name] == value) == (operator == "=")
    raise SettingsError(f"Package condition {condition!r} is not 'VAR = value' or 'VAR != value'.")


def parse_packages(element: str, declared: object) -> list[tuple[str, PackageOptions]]:
    """Validate an element's PACKAGES mapping into (name, options) entries."""
    if not isinstance(declared, Mapping):
        raise ElementLoadError(
            f"Element {element!r}: PACKAGES must map package names to options, e.g. "
            '{"curl": None, "lsb-release": {"phase": "pre-install"}}.'
        )
    entries = []
    for name, options in declared.items():
        for one in options if isinstance(options, list) else [options]:
            try:
                entries.append((str(name), PackageOptions.model_validate(one or {})))
            except ValidationError as exc:
                first = exc.errors()[0]
                raise ElementLoadError(
                    f"Element {element!r}: package {name!r} has a bad option "
                    f"{'.'.join(str(p) for p in first['loc'])!r}: {first['msg']}."
                ) from None
    return entries


class PhasePackages(BaseModel):
    install: list[str] = []
    uninstall: list[str] = []


def squash(
    declared: Mapping[str, object],
    arch: str,
    env: Mapping[str, str],
    mapper: Callable[[str, str], list[str]] = lambda element, name: [name],
) -> dict[Phase, PhasePackages]:
    """Every element's packages, per phase, with DIB's conflict rules (package-installs-squash).

    ``declared`` maps element name to its PACKAGES, in resolution order; ``mapper(element,
    name)`` turns a generic name into the distribution's packages (pkg-map).
    """
    result = {phase: PhasePackages() for phase in PACKAGE_PHASES}
    for element, packages in declared.items():
        for generic, options in parse_packages(element, packages):
            if not options.applies(arch, env):
                continue
            for name in mapper(element, generic):
                _add(result[options.phase], name, options)
    return result


def _add(lists: PhasePackages, name: str, options: PackageOptions) -> None:
    if options.uninstall:
        if name not in lists.install and name not in lists.uninstall:
            lists.uninstall.append(name)
    elif options.build_only:
        if name not in lists.install:
            lists.install.append(name)
        if name not in lists.uninstall:
            lists.uninstall.append(name)
    else:
        if name in lists.uninstall:
            lists.uninstall.remove(name)
        if name not in lists.install:
            lists.install.append(name)


def map_names(
    names: list[str], pkg_map: Mapping[str, Any] | None, distro: str, release: str
) -> list[str]:
    """DIB's pkg-map: default < family < distro < release; "" skips; unmapped stay as is."""
    if not pkg_map:
        return list(names)
    family = FAMILIES.get(distro, distro)
    merged: dict[str, str] = {}
    for path in (
        ("default",),
        ("family", family),
        ("distro", distro),
        ("release", distro, release),
    ):
        merged.update(_pkg_map_level(pkg_map, path))
    mapped: list[str] = []
    for name in names:
        for package in merged.get(name, name).split():
            if package not in mapped:
                mapped.append(package)
    return mapped


def _pkg_map_level(pkg_map: object, path: tuple[str, ...]) -> dict[str, str]:
    """``pkg_map[path[0]][path[1]]...``: a map of generic name to package names, or {}."""
    level = pkg_map
    for key in path:
        if not isinstance(level, Mapping):
            break
        level = level.get(key, {})
    else:
        if isinstance(level, Mapping) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in level.items()
        ):
            return dict(level)
    raise ElementLoadError(
        f"PKG_MAP[{']['.join(repr(k) for k in path)}] is not a map of generic names to "
        'package names, e.g. {"family": {"debian": {"iscsi_package": "open-iscsi"}}} '
        '("" leaves the package out).'
    )
