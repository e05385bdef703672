"""Run a plan: every phase in order, cleanup always, outputs last, nothing left behind."""

from __future__ import annotations

import inspect
import logging
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, MappingProxyType
from typing import Any

from dibpy import events
from dibpy._version import __version__
from dibpy.blockdev.config import BlockDeviceConfig
from dibpy.building import diskimage
from dibpy.building.context import BuildContext
from dibpy.config.model import BuildConfig
from dibpy.config.settings import ElementSettings, read_settings
from dibpy.elements import Hook
from dibpy.errors import BuildError, BuildInterrupted, DibError, HookError
from dibpy.host import tools as hosttools
from dibpy.host.checksums import sha256_file
from dibpy.host.run import Runner
from dibpy.host.workspace import Workspace, use_tmpfs
from dibpy.legacy import environment, hooktree
from dibpy.outputs import formats as outputs
from dibpy.outputs import manifest
from dibpy.phases import PHASES, Phase
from dibpy.planning.plan import Plan
from dibpy.planning.steps import DriverStep, steps_after
from dibpy.tree import tidy as tree

log = logging.getLogger("dibpy.build")
NO_FINAL_IMAGE = "no-final-image"


@dataclass(frozen=True)
class HookTiming:
    phase: Phase
    element: str
    hook: str
    seconds: float


@dataclass
class BuildResult:
    """What a build produced.

    ``outputs`` are the image files written (absolute paths), ``checksums`` maps each to its
    SHA256 (hex), ``manifest`` is the content of NAME.manifest.json and ``manifest_path``
    where it was written (None when the build stopped early with ``stop_after``).
    """

    outputs: list[Path] = field(default_factory=list)
    timings: list[HookTiming] = field(default_factory=list)
    build_dir: Path | None = None  # set when the build directory was kept
    checksums: dict[Path, str] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)
    manifest_path: Path | None = None


class Build:
    """One build of one plan with one config.

    ``on_event`` receives the typed events of ``dibpy.events`` as the build runs; ``command``
    is recorded in the manifest (default: this process's ``sys.argv``). Every command of the
    build gets the build's environment (``config.env``, with what the legacy elements'
    environment.d files export), never the rest of this process's ``os.environ``.
    """

    def __init__(
        self,
        plan: Plan,
        config: BuildConfig,
        *,
        on_event: events.EventCallback | None = None,
        command: Sequence[str] | None = None,
    ) -> None:
        self.plan = plan
        self.config = config
        self.runner = Runner(env=config.env)
        self.result = BuildResult()
        self.block_device: BlockDeviceConfig | None = None
        self.on_event = on_event
        self.command = list(sys.argv if command is None else command)
        self._started = time.time()

    def emit(self, event: events.Event) -> None:
        """Hand ``event`` to ``on_event`` (if there is one)."""
        if self.on_event is not None:
            self.on_event(event)

    def run(self) -> BuildResult:
        """Build; raise a DibError (HookError, BuildInterrupted, ...) on failure."""
        with events.forwarding_logs(self.on_event):
            return self._run()

    def _run(self) -> BuildResult:
        self._apply_environment_d()
        destinations = self._check_inputs()
        c = self.config
        self._started = time.time()
        self.emit(events.BuildStarted(c.image_name, self.plan.elements, c.formats))
        keep = self.config.keep_build_dir or self.config.stop_after is not None
        tmpfs = not keep and use_tmpfs(
            no_tmpfs=self.config.no_tmpfs, min_tmpfs_gb=self.config.min_tmpfs_gb
        )
        workspace = Workspace(
            self.config.tmp_dir, self.runner, tmpfs=tmpfs, tmpfs_size=self.config.tmpfs_size
        )
        try:
            with _signals_as_exceptions():
                ctx = self._context(workspace)
                self._run_phases(ctx, workspace, destinations)
        except BuildError as exc:
            workspace.explain_no_space(exc)  # a full tmpfs: say so while it is still mounted
            raise
        finally:
            with _signals_deferred():
                workspace.close(remove=not keep)
            if keep:  # also after a failure: say where it is
                log.info("The build directory is kept at %s", workspace.build_dir)
        if keep:
            self.result.build_dir = workspace.build_dir
        self.emit(
            events.BuildFinished(
                time.time() - self._started,
                tuple(self.result.outputs),
                self.result.manifest_path,
            )
        )
        return self.result

    def _apply_environment_d(self) -> None:
        """Lay what the legacy elements' environment.d files export over the build's
        environment, as DIB's hooks all see it (see ``dibpy.legacy.environment``)."""
        c = self.config
        exported = environment.exported_variables(
            self.plan.element_set.elements,
            c.env,
            self.runner,
            extra={
                "ARCH": c.arch,
                "IMAGE_NAME": c.image_name,
                "IMAGE_ELEMENT": " ".join(self.plan.elements),
            },
            tmp_dir=c.tmp_dir,
        )
        if exported:
            log.info("environment.d exports: %s", ", ".join(sorted(exported)))
            env = MappingProxyType({**c.env, **exported})
            self.config = c.model_copy(update={"env": env})
            self.runner = Runner(env=env)

    def _check_inputs(self) -> dict[str, Path]:
        """Everything that can be wrong with the input, found before anything is made."""
        destinations = {}
        if self.config.stop_after is None:
            outputs.check_formats(self.config.formats)
            formats = self._final_formats()
            for fmt in formats:
                destination = self.config.output_path(fmt).absolute()
                outputs.check_writable(destination)
                destinations[fmt] = destination
            if outputs.needs_disk(formats):
                self.block_device = diskimage.block_device_config(
                    self.plan.element_set, self.config.env, self.config.root_label
                )
        diskimage.check_arch(self.plan.element_set, self.config.arch)
        hooktree.check_supported(self.plan.phases)
        self._check_host_tools(list(destinations))
        for element in self.plan.element_set.elements:
            for value in vars(element.module).values() if element.module else ():
                if (
                    inspect.isclass(value)
                    and issubclass(value, ElementSettings)
                    and value is not ElementSettings
                ):
                    read_settings(value, self.config.env, owner=element.name)
        return destinations

    def _final_formats(self) -> list[str]:
        """The formats to write. DIB's ``no-final-image`` element (ramdisk builds, whose
        elements write the kernel and initramfs themselves) means no disk image: only tree
        formats (tar, squashfs) are written, as DIB writes those before its conversions."""
        formats = list(self.config.formats)
        if NO_FINAL_IMAGE not in self.plan.elements:
            return formats
        skipped = [f for f in formats if f not in outputs.TREE_WRITERS]
        if skipped:
            log.info(
                "Element %s is in the build: no %s written", NO_FINAL_IMAGE, ", ".join(skipped)
            )
        return [f for f in formats if f in outputs.TREE_WRITERS]

    def _check_host_tools(self, formats: list[str]) -> None:
        """Every program the build will run on the host is there, or say which package."""
        bd = self.block_device
        fstypes = [node.fstype for node in bd.mkfs_nodes] if bd is not None else []
        needed = hosttools.needed_for(formats, fstypes, bool(bd and bd.partitionings))
        for element in self.plan.element_set.elements:
            declared = getattr(element.module, "HOST_TOOLS", None) if element.module else None
            if declared is not None:
                for tool, package in hosttools.declared_tools(element.name, declared).items():
                    needed.setdefault(tool, (package, f"element {element.name!r}"))
        hosttools.check(needed, self.config.env.get("PATH"))

    def _context(self, workspace: Workspace) -> BuildContext:
        c = self.config
        return BuildContext.create(
            workspace,
            modules={e.name: e.module for e in self.plan.element_set.elements if e.module},
            arch=c.arch,
            image_name=c.image_name,
            elements=self.plan.elements,
            image_cache=c.image_cache,
            offline=c.offline,
            debug_trace=c.debug_trace,
            packages=c.packages,
            env=c.env,
            element_dirs={
                e.name: e.data_dir or Path(e.origin.location)
                for e in self.plan.element_set.elements
            },
            on_download=self._download_progress,
        )

    def _download_progress(self, url: str, done: int, total: int | None) -> None:
        self.emit(events.DownloadProgress(url, done, total))

    def _run_phases(
        self, ctx: BuildContext, workspace: Workspace, destinations: dict[str, Path]
    ) -> None:
        stop_after = self.config.stop_after
        try:
            self._driver_steps(None, ctx, workspace, destinations)
            for phase in PHASES[: PHASES.index(Phase.CLEANUP)]:
                self._run_phase(phase, ctx)
                self._driver_steps(phase, ctx, workspace, destinations)
                if phase is stop_after:
                    log.info("Stopped after the %s phase as asked.", phase)
                    self.result.manifest = self._manifest(ctx, [])
                    return
        except BaseException:
            with _signals_deferred():
                self._cleanup_after_failure(ctx, workspace)
            raise
        self._run_phase(Phase.CLEANUP, ctx)
        files = list(ctx.outputs.destinations(self.config.output_name()))
        before = outputs.identities([*outputs.with_sidecars(list(destinations.values())), *files])
        try:
            self._driver_steps(Phase.CLEANUP, ctx, workspace, destinations)
        except BaseException as exc:
            with _signals_deferred():  # a failed build leaves no output, whole or partial
                for path in outputs.remove_changed(before):
                    log.warning("Removed %s: the build failed after writing it", path)
            if isinstance(exc, (KeyboardInterrupt, BuildInterrupted)):
                raise BuildInterrupted(
                    "Interrupted after the cleanup phase, while the disk image was assembled "
                    "and the outputs written; no output, whole or partial, was left."
                ) from exc
            raise

    def _driver_steps(
        self,
        after: Phase | None,
        ctx: BuildContext,
        workspace: Workspace,
        destinations: dict[str, Path],
    ) -> None:
        """Run the driver's own steps that follow ``after``, as the plan lists them."""
        for step in steps_after(after):
            log.debug("Driver step %s", step.name)
            self._driver_step(step, ctx, workspace, destinations)

    def _driver_step(
        self,
        step: DriverStep,
        ctx: BuildContext,
        workspace: Workspace,
        destinations: dict[str, Path],
    ) -> None:
        root = ctx.target_root
        raw = workspace.build_dir / "image.raw"
        match step.name:
            case "hooks-tree":
                hooktree.assemble(self.plan.element_set.elements, ctx.hooks_path)
            case "chroot-mounts":
                pass  # each chroot command mounts them for itself: see Chroot.session
            case "check-root":
                tree.check_root_deployed(root)
            case "host-resolver":
                tree.use_host_resolver(root)
            case "release-tree-mounts":
                workspace.release_tree_mounts()
            case "fstab":
                if self.block_device is not None:
                    diskimage.write_fstab(root, self.block_device)
            case "release-all-mounts":
                workspace.release_tree_mounts(leftovers=True)
            case "restore-resolver":
                tree.restore_resolver(root)
            case "tidy":
                tree.tidy(root)
            case "assemble-image":
                if self.block_device is not None:
                    diskimage.make_disk(
                        root,
                        self.block_device,
                        raw,
                        self.runner,
                        ctx.disk,
                        image_size_gb=self.config.image_size_gb,
                        extra_size_mb=self.config.image_extra_size_mb,
                    )
            case "write-outputs":
                self._write_outputs(ctx, raw, destinations)
            case _:
                raise BuildError(f"The driver has no step {step.name!r}.")

    def _write_outputs(self, ctx: BuildContext, raw: Path, destinations: dict[str, Path]) -> None:
        """Write every output format (from the disk ``raw`` when the build makes one, and from
        the tree), their checksums and the manifest."""
        written = []
        if self.block_device is not None:
            options = outputs.OutputOptions(self.config.compress, self.config.qemu_img_options)
            written += outputs.write_disk_outputs(raw, destinations, self.runner, options)
            raw.unlink()
        written += outputs.write_tree_outputs(ctx.target_root, destinations, self.runner)
        if self.config.checksum:
            for path in list(written):
                outputs.write_checksums(path)
        written += outputs.write_output_files(ctx.outputs.destinations(self.config.output_name()))
        self.result.outputs = written
        self._record_outputs(ctx, destinations)

    def _record_outputs(self, ctx: BuildContext, destinations: dict[str, Path]) -> None:
        """Checksum every output, then write NAME.manifest.json beside them."""
        formats = {path: fmt for fmt, path in destinations.items()}
        records = []
        for path in self.result.outputs:
            record = manifest.OutputRecord(
                path,
                formats.get(path, path.suffix.lstrip(".")),
                path.stat().st_size,
                sha256_file(path),
            )
            records.append(record)
            self.result.checksums[path] = record.sha256
            self.emit(events.OutputWritten(path, record.format, record.size, record.sha256))
        self.result.manifest = self._manifest(ctx, records)
        where = manifest.manifest_path(self.config.image_name, self.config.formats).absolute()
        manifest.write_manifest(where, self.result.manifest)
        self.result.manifest_path = where
        log.info("Wrote %s", where)

    def _manifest(self, ctx: BuildContext, records: list[manifest.OutputRecord]) -> dict[str, Any]:
        c = self.config
        return manifest.make_manifest(
            version=__version__,
            command=self.command,
            plan=self.plan,
            image_name=c.image_name,
            arch=c.arch,
            formats=c.formats,
            started=self._started,
            seconds=time.time() - self._started,
            hooks=[
                manifest.HookRun(t.phase.value, t.element, t.hook, t.seconds)
                for t in self.result.timings
            ],
            env=c.env,
            packages=manifest.installed_packages(ctx.target_root, c.env, c.image_name),
            outputs=records,
        )

    def _run_phase(self, phase: Phase, ctx: BuildContext) -> None:
        hooks = self.plan.phases[phase]
        if not hooks:
            return
        log.info("Running the %s phase (%d hooks)", phase, len(hooks))
        self.emit(events.PhaseStarted(phase, len(hooks)))
        started = time.monotonic()
        timings = []
        for hook in hooks:
            timings.append(self._run_hook(hook, ctx))
        self.result.timings += timings
        log.info("%s", timing_table(phase, timings))
        self.emit(events.PhaseFinished(phase, time.monotonic() - started))

    def _run_hook(self, hook: Hook, ctx: BuildContext) -> HookTiming:
        log.info("%s: %s (%s)", hook.phase, hook.name, hook.element)
        self.emit(events.HookStarted(hook.phase, hook.element, hook.name, hook.order))
        started = time.monotonic()
        try:
            hook.function(ctx)
        except (KeyboardInterrupt, BuildInterrupted) as exc:
            raise BuildInterrupted(
                f"Interrupted during the {hook.phase} phase, in hook {hook.name!r} of element "
                f"{hook.element!r}. Everything the build mounted has been released.",
                phase=hook.phase.value,
                element=hook.element,
                hook=hook.name,
            ) from exc
        except HookError:
            raise
        except Exception as exc:
            raise HookError(hook.phase.value, hook.element, hook.name, exc) from exc
        seconds = time.monotonic() - started
        self.emit(events.HookFinished(hook.phase, hook.element, hook.name, seconds))
        return HookTiming(hook.phase, hook.element, hook.name, seconds)

    def _cleanup_after_failure(self, ctx: BuildContext, workspace: Workspace) -> None:
        """DIB skips cleanup hooks after a failure; dibpy runs them, best effort."""
        for hook in self.plan.phases[Phase.CLEANUP]:
            try:
                hook.function(ctx)
            except Exception as exc:  # the first failure is the one to report
                log.warning(
                    "Cleanup hook %s (%s) failed after the build failed: %s",
                    hook.name,
                    hook.element,
                    exc,
                )
        workspace.release_tree_mounts()


def timing_table(phase: Phase, timings: list[HookTiming]) -> str:
    """The table dib-run-parts prints at the end of a phase."""
    width = max(len(f"{t.hook} ({t.element})") for t in timings)
    rows = [f"{phase} phase timings:", f"  {'hook':<{width}}  seconds"]
    rows += [f"  {t.hook + ' (' + t.element + ')':<{width}}  {t.seconds:7.3f}" for t in timings]
    return "\n".join(rows)


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    raise BuildInterrupted(f"Received {signal.Signals(signum).name}; stopping the build.")


@contextmanager
def _signals_as_exceptions() -> Iterator[None]:
    """SIGTERM unwinds the build like Ctrl-C, so every resource is released."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """While releasing resources, a second Ctrl-C or SIGTERM must not cut the release short."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def remember(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        log.warning(
            "Received %s while cleaning up; finishing the clean-up first.",
            signal.Signals(signum).name,
        )

    previous = {s: signal.signal(s, remember) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    # Raise only if nothing is failing already: the first error (which says where the build
    # was interrupted) is the one to report.
    if received and sys.exc_info()[1] is None:
        raise BuildInterrupted("Interrupted; the build was stopped and cleaned up.")


__all__ = ["Build", "BuildResult", "DibError", "HookTiming"]
