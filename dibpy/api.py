"""The Python API: ``dibpy.plan`` and ``dibpy.build``. The CLI is a thin layer over these."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, TypedDict, Unpack

from dibpy.config.model import BuildConfig, host_arch, normalise_arch
from dibpy.config.options import check_names, read_environment
from dibpy.elements import ElementIndex, resolve, with_defaults
from dibpy.phases import Phase
from dibpy.planning.plan import Plan

if TYPE_CHECKING:
    from dibpy.building.build import BuildResult
    from dibpy.events import EventCallback


class PlanOptions(TypedDict, total=False):
    """The options of ``dibpy.plan`` (and of ``dibpy.build``); None means "not given".

    Each is a BuildConfig field declared with ``option`` (docs/cli.md lists them with their
    flags and variables); ``tests/test_options.py`` keeps the two the same.
    """

    element_paths: Sequence[str | Path] | None
    arch: str | None
    skip_base: bool | None


class BuildOptions(PlanOptions, total=False):
    """The options of ``dibpy.build``: ``disk-image-create``'s, by their BuildConfig names."""

    formats: Sequence[str] | None
    packages: Sequence[str] | None
    compress: bool | None
    qemu_img_options: str | None
    checksum: bool | None
    image_size_gb: float | None
    image_extra_size_mb: int | None
    root_label: str | None
    stop_after: Phase | str | None
    keep_build_dir: bool | None
    no_tmpfs: bool | None
    min_tmpfs_gb: int | None
    tmpfs_size: str | None
    image_cache: str | Path | None
    tmp_dir: str | Path | None
    offline: bool | None
    debug_trace: int | None


def plan(
    elements: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    **options: Unpack[PlanOptions],
) -> Plan:
    """Resolve ``elements`` and order their hooks; pure (no root, no network, no disk).

    ``element_paths`` are searched first, then ``ELEMENTS_PATH`` (from ``env``, default
    ``os.environ``), the ``dibpy.elements`` entry points and the built-in elements. Unless
    ``skip_base``, the ``base`` element is added (and ``vm`` brings the architecture's block
    device), as ``disk-image-create`` does. ``arch`` defaults to ``ARCH``, then the host's.
    ``Plan.to_dict()`` is what ``dibpy plan --json`` prints. Raises an ``InputError``
    subclass (ElementNotFoundError, ResolutionError, ...) when the elements cannot be
    combined, or an option's name is misspelt.
    """
    check_names(options, PlanOptions.__optional_keys__, "dibpy.plan")
    environ = os.environ if env is None else env
    arch = options.get("arch") or read_environment(BuildConfig, environ, ["arch"]).get("arch")
    chosen_arch = normalise_arch(str(arch or host_arch()))
    index = ElementIndex.discover(
        [Path(p) for p in options.get("element_paths") or ()], environ.get("ELEMENTS_PATH", "")
    )
    names = with_defaults(elements, chosen_arch, skip_base=bool(options.get("skip_base")))
    return Plan.of(resolve(names, index))


def build(
    elements: Sequence[str],
    *,
    output: str | Path,
    env: Mapping[str, str] | None = None,
    on_event: EventCallback | None = None,
    command: Sequence[str] | None = None,
    **options: Unpack[BuildOptions],
) -> BuildResult:
    """Build an image from ``elements`` into ``output``.FORMAT for each format (as root).

    ``env`` replaces ``os.environ`` as the source of ``DIB_*`` settings (and of ``PATH``,
    ``TMP_DIR``, proxies...), so builds with different settings can run in one process;
    every command the build runs (on the host, in the chroot, legacy scripts) gets this
    environment and nothing else of the process's. ``on_event`` is called with each typed
    event of ``dibpy.events`` (phases, hooks with their durations, download progress, log
    lines, outputs). ``command`` is recorded in the manifest (default ``sys.argv``). The
    ``options`` (BuildOptions: ``formats``, ``packages``, ``checksum``, ``offline``,
    ``keep_build_dir``, ...) are ``disk-image-create``'s, listed with their flags and
    variables in docs/cli.md; one given (not None) wins over its variable in ``env``.

    The build runs in a child process, in mount and pid namespaces of its own (and a network
    namespace with only loopback when ``offline``), so that nothing it mounts or starts
    outlives it, even if this process is killed (``dibpy.host.isolation``). Events, log
    records and the outcome come back from it; SIGINT and SIGTERM to this process are passed
    on to it.

    Returns a BuildResult (outputs, their SHA256, the manifest, written beside the outputs
    as NAME.manifest.json). Raises an ``InputError`` (exit code 2) for bad input (a
    misspelt option's name too), found before anything is built, and a ``BuildError``
    (HookError with ``phase``, ``element`` and ``hook``, CommandError, BuildInterrupted...)
    when the build fails.
    """
    from dibpy.building.build import Build  # the build machinery, loaded only to build
    from dibpy.host.isolation import run_isolated

    check_names(options, BuildOptions.__optional_keys__, "dibpy.build")
    environ = dict(os.environ if env is None else env)
    config = BuildConfig.from_environment(
        environ, elements=tuple(elements), image_name=str(output), **options
    )
    the_plan = plan(
        config.elements,
        element_paths=config.element_paths,
        arch=config.arch,
        skip_base=config.skip_base,
        env=environ,
    )
    config = config.model_copy(update={"env": MappingProxyType(the_plan.environment(environ))})

    def in_namespaces(send: EventCallback) -> BuildResult:
        return Build(the_plan, config, on_event=send, command=command).run()

    return run_isolated(in_namespaces, on_event, offline=config.offline)
