"""The Python API: ``dibpy.plan`` and ``dibpy.build``. The CLI is a thin layer over these."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from dibpy.config.model import BuildConfig, host_arch, normalise_arch
from dibpy.elements import ElementIndex, resolve, with_defaults
from dibpy.planning.plan import Plan

if TYPE_CHECKING:
    from dibpy.building.build import BuildResult
    from dibpy.events import EventCallback


def plan(
    elements: Sequence[str],
    *,
    element_paths: Sequence[str | Path] = (),
    arch: str | None = None,
    skip_base: bool = False,
    env: Mapping[str, str] | None = None,
) -> Plan:
    """Resolve ``elements`` and order their hooks; pure (no root, no network, no disk).

    ``element_paths`` are searched first, then ``ELEMENTS_PATH`` (from ``env``, default
    ``os.environ``), the ``dibpy.elements`` entry points and the built-in elements. Unless
    ``skip_base``, the ``base`` element is added (and ``vm`` brings the architecture's block
    device), as ``disk-image-create`` does. ``Plan.to_dict()`` is what ``dibpy plan --json``
    prints. Raises an ``InputError`` subclass (ElementNotFoundError, ResolutionError, ...)
    when the elements cannot be combined.
    """
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
    on_event: EventCallback | None = None,
    command: Sequence[str] | None = None,
    **options: object,
) -> BuildResult:
    """Build an image from ``elements`` into ``output``.FORMAT for each format (as root).

    ``env`` replaces ``os.environ`` as the source of ``DIB_*`` settings (and of ``PATH``,
    ``TMP_DIR``, proxies...), so builds with different settings can run in one process.
    ``on_event`` is called with each typed event of ``dibpy.events`` (phases, hooks with
    their durations, download progress, log lines, outputs). ``command`` is recorded in the
    manifest (default ``sys.argv``). Further ``options`` are BuildConfig fields:
    ``packages``, ``checksum``, ``compress``, ``qemu_img_options``, ``image_size_gb``,
    ``image_extra_size_mb``, ``root_label``, ``image_cache``, ``offline``, ``stop_after``,
    ``keep_build_dir``.

    The build runs in a child process, in mount and pid namespaces of its own (and a network
    namespace with only loopback when ``offline``), so that nothing it mounts or starts
    outlives it, even if this process is killed (``dibpy.host.isolation``). Events, log
    records and the outcome come back from it; SIGINT and SIGTERM to this process are passed
    on to it.

    Returns a BuildResult (outputs, their SHA256, the manifest, written beside the outputs
    as NAME.manifest.json). Raises an ``InputError`` (exit code 2) for bad input, found
    before anything is built, and a ``BuildError`` (HookError with ``phase``, ``element``
    and ``hook``, CommandError, BuildInterrupted...) when the build fails.
    """
    from dibpy.building.build import Build  # the build machinery, loaded only to build
    from dibpy.host.isolation import run_isolated

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

    def in_namespaces(send: EventCallback) -> BuildResult:
        return Build(the_plan, config, on_event=send, command=command).run()

    return run_isolated(in_namespaces, on_event, offline=config.offline)
