"""BuildConfig: the command line and the environment, validated once, at the edge."""

from __future__ import annotations

import platform
import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dibpy.config.options import option, positive_float, read_environment
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


def default_image_cache(env: Mapping[str, str]) -> Path:
    """DIB's ``~/.cache/image-create``, under the build's ``HOME``."""
    return Path(env.get("HOME") or Path.home()) / ".cache/image-create"


class BuildConfig(BaseModel):
    """Everything a build needs to know before it starts, in one validated object.

    Each build option is declared here once, with ``option`` (``dibpy.config.options``):
    the ``build`` command's flags, the ``DIB_*`` variables read and docs/cli.md are made
    from these declarations. The field order is the order of ``dibpy build --help``.
    """

    model_config = ConfigDict(frozen=True)

    elements: tuple[str, ...]
    element_paths: tuple[Path, ...] = option(
        (),
        flags=("--element-path",),
        metavar="DIR",
        repeat=True,
        help="a directory of elements, searched before ELEMENTS_PATH and the built-ins "
        "(repeatable)",
    )
    arch: str = option(
        flags=("-a", "--arch"),
        env=("ARCH",),
        metavar="ARCH",
        help="target architecture; default: the host's",
        default_factory=host_arch,
    )
    skip_base: bool = option(False, flags=("-n",), help="do not add the base element")
    image_name: str = option(
        "image",
        flags=("-o",),
        metavar="NAME",
        help="output name; outputs are NAME.FORMAT (default: image)",
    )
    formats: tuple[str, ...] = option(
        ("qcow2",),
        flags=("-t",),
        metavar="FORMATS",
        separator=",",
        help="comma-separated output formats (default: qcow2)",
    )
    packages: tuple[str, ...] = option(
        (),
        flags=("-p",),
        metavar="PKGS",
        separator=",",
        repeat=True,
        help="extra packages to install, comma-separated (repeatable)",
    )
    compress: bool = option(True, flags=("-u",), help="do not compress the qcow2 image")
    qemu_img_options: str = option(
        "",
        flags=("--qemu-img-options",),
        env=("QEMU_IMG_OPTIONS",),
        metavar="OPTS",
        help="options for qemu-img convert -o",
    )
    checksum: bool = option(
        False,
        flags=("--checksum",),
        env=("DIB_CHECKSUM",),
        help="write NAME.FORMAT.md5 and .sha256 beside each output",
    )
    image_size_gb: float | None = option(
        None,
        flags=("--image-size",),
        env=("DIB_IMAGE_SIZE",),
        metavar="GB",
        parse=positive_float,
        help="image size in GB; default: the tree plus 66%",
    )
    image_extra_size_mb: int | None = option(
        None,
        flags=("--image-extra-size",),
        env=("DIB_IMAGE_EXTRA_SIZE",),
        metavar="MB",
        help="free space to add to the tree's size",
    )
    root_label: str | None = option(
        None,
        flags=("--root-label",),
        env=("ROOT_LABEL",),
        metavar="LABEL",
        help="label of the root file system; default cloudimg-rootfs, img-rootfs on xfs",
    )
    stop_after: Phase | None = option(
        None,
        flags=("--stop-after",),
        metavar="PHASE",
        help="stop after PHASE and keep the build directory for inspection",
    )
    keep_build_dir: bool = option(
        False, flags=("--keep-build-dir",), help="do not remove the build directory at the end"
    )
    no_tmpfs: bool = option(
        False,
        flags=("--no-tmpfs",),
        env=("DIB_NO_TMPFS",),
        help="build on disk, not in a tmpfs",
    )
    min_tmpfs_gb: int = option(
        2,
        flags=("--min-tmpfs",),
        env=("DIB_MIN_TMPFS",),
        metavar="GB",
        help="use a tmpfs only with at least twice this much memory, default 2",
    )
    tmpfs_size: str | None = option(
        None,
        env=("DIBPY_TMPFS_SIZE",),
        help="the tmpfs's size, as mount's size= (512m, 8g, 75%); default: half the memory",
    )
    image_cache: Path = option(
        flags=("--image-cache",),
        env=("DIB_IMAGE_CACHE",),
        metavar="DIR",
        default_from=default_image_cache,
        help="download cache; default ~/.cache/image-create",
    )
    tmp_dir: Path = option(
        Path("/tmp"),  # noqa: S108 (DIB's TMP_DIR default; builds use mkdtemp)
        env=("TMP_DIR",),
        help="where the build directory is made; default /tmp",
    )
    offline: bool = option(
        False,
        flags=("--offline",),
        env=("DIB_OFFLINE",),
        help="use cached downloads without checking them; the whole build gets no network, "
        "only loopback",
    )
    debug_trace: int = option(
        0,
        env=("DIB_DEBUG_TRACE",),
        help="how much the hooks trace (set -x in legacy scripts at 1 and more); "
        "dibpy build -x adds one",
    )
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

        Options given explicitly (not None) win over the environment, as DIB's flags do.
        """
        values = read_environment(cls, env)
        values["env"] = MappingProxyType(dict(env))
        values.update({k: v for k, v in options.items() if v is not None})
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise InputError(_explain(exc, values)) from None

    def output_name(self) -> str:
        """NAME of the outputs: ``-o`` (DIB strips a ``.FMT`` the user added)."""
        name = self.image_name
        if len(self.formats) == 1 and name.endswith(f".{self.formats[0]}"):
            name = name[: -len(self.formats[0]) - 1]
        return name

    def output_path(self, fmt: str) -> Path:
        """``NAME.FMT``, where NAME is ``-o`` (DIB strips a ``.FMT`` the user added)."""
        return Path(f"{self.output_name()}.{fmt}")


def _explain(exc: ValidationError, values: Mapping[str, object]) -> str:
    """A wrong type given through the API (``image_size_gb="big"``), named as given."""
    problems = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else ""
        problems.append(f"{name}={values.get(name)!r}: {error['msg'].lower()}")
    return f"Bad build option {'; '.join(problems)}. Give a value of the option's type."
