"""The Python API: ``dibpy.plan`` and ``dibpy.build``. The CLI is a thin layer over these."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType

from dibpy.build import Build, BuildResult
from dibpy.config import BuildConfig, host_arch, normalise_arch
from dibpy.elements import ElementIndex, resolve, with_defaults
from dibpy.plan import Plan


def plan(
    elements: Sequence[str],
    *,
    element_paths: Sequence[str | Path] = (),
    arch: str | None = None,
    skip_base: bool = False,
    env: Mapping[str, str] | None = None,
) -> Plan:
    """Resolve ``elements`` and order their hooks; pure (no root, no network, no disk)."""
    environ = os.environ if env is None else env
    chosen_arch = normalise_arch(arch or environ.get("ARCH") or host_arch())
    index = ElementIndex.discover(
        [Path(p) for p in element_paths], environ.get("ELEMENTS_PATH", "")
    )
    names = with_defaults(elements, chosen_arch, skip_base=skip_base)
    return Plan.of(resolve(names, index))


def build(
    elements: Sequence[str],
    *,
    output: str | Path,
    formats: Sequence[str] = ("qcow2",),
    element_paths: Sequence[str | Path] = (),
    arch: str | None = None,
    skip_base: bool = False,
    env: Mapping[str, str] | None = None,
    **options: object,
) -> BuildResult:
    """Build an image from ``elements`` into ``output``.FORMAT for each format.

    ``env`` replaces ``os.environ`` as the source of ``DIB_*`` settings. Further
    ``options`` are BuildConfig fields (``stop_after``, ``keep_build_dir``, ...).
    """
    environ = dict(os.environ if env is None else env)
    config = BuildConfig.from_environment(
        environ,
        elements=tuple(elements),
        image_name=str(output),
        formats=tuple(formats),
        element_paths=tuple(Path(p) for p in element_paths),
        arch=arch,
        skip_base=skip_base,
        **options,
    )
    the_plan = plan(
        config.elements,
        element_paths=config.element_paths,
        arch=config.arch,
        skip_base=skip_base,
        env=environ,
    )
    config = config.model_copy(update={"env": MappingProxyType(the_plan.environment(environ))})
    return Build(the_plan, config).run()
