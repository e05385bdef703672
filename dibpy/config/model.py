"""BuildConfig: the command line and the environment, validated once, at the edge."""

from __future__ import annotations

import platform
import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from pydantic import BaseModel, ConfigDict, Field, field_validator

from dibpy.config.settings import parse_bool
from dibpy.errors import InputError, SettingsError
from dibpy.phases import Phase

# DIB's architecture names, and the host names (uname -m) that mean the same thing.
ARCHES = ("amd64", "arm64", "armhf", "i386", "ppc64el", "s390x", "riscv64")
ARCH_ALIASES = {"x86_64": "amd64", "aarch64": "arm64", "ppc64le": "ppc64el", "i686": "i386"}

# A tmpfs size as mount(8) takes it (tmpfs(5)): bytes with an optional k/m/g/t/p/e suffix, or
# a percentage of the memory; 0 (no limit at all) is refused.
TMPFS_SIZE = re.compile(r"[1-9][0-9]*([kmgtpe]?|%)", re.IGNORECASE)

# Output formats DIB knows; which of them this version of dibpy can write is outputs.py's.
KNOWN_FORMATS = ("qcow2", "raw", "tar", "tgz", "vhd", "squashfs", "docker", "aci", "vmdk")


def normalise_arch(value: str) -> str:
    """Map ``x86_64`` to ``amd64`` and so on; refuse an architecture DIB does not know."""
    arch = ARCH_ALIASES.get(value, value)
    if arch not in ARCHES:
        raise InputError(
            f"Unknown architecture {value!r}. Use one of DIB's names: {', '.join(ARCHES)} "
            "(x86_64 and aarch64 are accepted too)."
        )
    return arch


def host_arch() -> str:
    return normalise_arch(platform.machine())


class BuildConfig(BaseModel):
    """Everything a build needs to know before it starts, in one validated object."""

    model_config = ConfigDict(frozen=True)

    elements: tuple[str, ...]
    image_name: str = "image"
    formats: tuple[str, ...] = ("qcow2",)
    arch: str = Field(default_factory=host_arch)
    skip_base: bool = False
    packages: tuple[str, ...] = ()
    image_size_gb: float | None = None
    image_extra_size_mb: int | None = None
    root_label: str | None = None
    compress: bool = True
    qemu_img_options: str = ""
    checksum: bool = False
    element_paths: tuple[Path, ...] = ()
    stop_after: Phase | None = None
    keep_build_dir: bool = False
    no_tmpfs: bool = False
    min_tmpfs_gb: int = 2
    tmpfs_size: str | None = None  # DIBPY_TMPFS_SIZE; None: tmpfs's default, half the memory
    image_cache: Path
    tmp_dir: Path = Path("/tmp")  # noqa: S108 (DIB's TMP_DIR default; builds use mkdtemp)
    offline: bool = False
    debug_trace: int = 0
    env: Mapping[str, str] = Field(default_factory=dict)

    @field_validator("arch")
    @classmethod
    def _arch(cls, value: str) -> str:
        return normalise_arch(value)

    @field_validator("formats")
    @classmethod
    def _formats(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [f for f in value if f not in KNOWN_FORMATS]
        if unknown or not value:
            raise InputError(
                f"Unknown output format {', '.join(unknown) or '(none)'}. "
                f"Known formats: {', '.join(KNOWN_FORMATS)}."
            )
        return value

    @field_validator("tmpfs_size")
    @classmethod
    def _tmpfs_size(cls, value: str | None) -> str | None:
        if value is not None and not TMPFS_SIZE.fullmatch(value):
            raise SettingsError(
                f"DIBPY_TMPFS_SIZE={value!r} is not a tmpfs size: give bytes with an optional "
                "k, m or g suffix (512m, 8g) or a share of the memory (75%)."
            )
        return value

    @classmethod
    def from_environment(cls, env: Mapping[str, str], **options: object) -> BuildConfig:
        """Build the config from CLI/API ``options`` plus DIB's variables in ``env``.

        Options given explicitly win over the environment, as DIB's flags do.
        """
        home = Path(env.get("HOME") or Path.home())
        values: dict[str, object] = {
            "image_cache": Path(env.get("DIB_IMAGE_CACHE") or home / ".cache/image-create"),
            "tmp_dir": Path(env.get("TMP_DIR") or "/tmp"),  # noqa: S108 (as above)
            "offline": parse_bool("DIB_OFFLINE", env.get("DIB_OFFLINE", "")),
            "debug_trace": non_negative_int("DIB_DEBUG_TRACE", env.get("DIB_DEBUG_TRACE", "")),
            "no_tmpfs": parse_bool("DIB_NO_TMPFS", env.get("DIB_NO_TMPFS", "")),
            "env": MappingProxyType(dict(env)),
        }
        if env.get("ARCH"):
            values["arch"] = env["ARCH"]
        if env.get("DIB_IMAGE_SIZE"):
            values["image_size_gb"] = _positive_float("DIB_IMAGE_SIZE", env["DIB_IMAGE_SIZE"])
        if env.get("DIB_IMAGE_EXTRA_SIZE"):
            values["image_extra_size_mb"] = non_negative_int(
                "DIB_IMAGE_EXTRA_SIZE", env["DIB_IMAGE_EXTRA_SIZE"]
            )
        if env.get("DIB_MIN_TMPFS"):
            values["min_tmpfs_gb"] = non_negative_int("DIB_MIN_TMPFS", env["DIB_MIN_TMPFS"])
        if env.get("DIBPY_TMPFS_SIZE"):
            values["tmpfs_size"] = env["DIBPY_TMPFS_SIZE"]
        if env.get("QEMU_IMG_OPTIONS"):
            values["qemu_img_options"] = env["QEMU_IMG_OPTIONS"]
        if env.get("DIB_CHECKSUM"):
            values["checksum"] = env["DIB_CHECKSUM"] not in ("0", "")
        values.update({k: v for k, v in options.items() if v is not None})
        return cls.model_validate(values)

    def output_path(self, fmt: str) -> Path:
        """``NAME.FMT``, where NAME is ``-o`` (DIB strips a ``.FMT`` the user added)."""
        name = self.image_name
        if len(self.formats) == 1 and name.endswith(f".{self.formats[0]}"):
            name = name[: -len(self.formats[0]) - 1]
        return Path(f"{name}.{fmt}")


def _positive_float(variable: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if number <= 0:
        raise SettingsError(f"{variable}={value!r} is not a size in GB greater than 0.")
    return number


def non_negative_int(variable: str, value: str) -> int:
    if value.strip() == "":
        return 0
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 0:
        raise SettingsError(f"{variable}={value!r} is not a whole number 0 or greater.")
    return number
