"""What a person watching ``dibpy build`` sees: two consumers of the build's events.

- ``TerminalView`` (stderr is a terminal): a live line with the current phase, hook and the
  elapsed time, a bar per download (size, speed), a line per finished hook, and at the end
  the table of hook timings per phase. Log records below WARNING go only to ``--log-file``.
- ``PlainView`` (not a terminal, ``--no-progress``, ``DIB_QUIET``): the log itself is the
  output, one timestamped line per record (see ``dibpy.frontends.log``); this view adds a line per
  quarter of each download, since a progress bar cannot be drawn there.
"""

from __future__ import annotations

import logging
import time
from types import TracebackType

from rich.console import Console, Group
from rich.live import Live
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from dibpy import events
from dibpy.phases import PHASES

log = logging.getLogger("dibpy.frontends.progress")


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


def timing_table(finished: list[events.HookFinished]) -> Table:
    """The per-phase hook timings (dib-run-parts' table), with each phase's total."""
    table = Table(title="Hook timings", title_justify="left", show_edge=False)
    table.add_column("phase")
    table.add_column("hook")
    table.add_column("element")
    table.add_column("seconds", justify="right")
    for phase in PHASES:
        rows = [f for f in finished if f.phase is phase]
        for i, row in enumerate(rows):
            table.add_row(
                phase.value if i == 0 else "", row.hook, row.element, f"{row.seconds:.2f}"
            )
        if len(rows) > 1:
            total = sum(r.seconds for r in rows)
            table.add_row("", "", "[dim]total[/dim]", f"[dim]{total:.2f}[/dim]")
        if rows:
            table.rows[-1].end_section = True
    return table


class TerminalView:
    """The rich display; use as a context manager around the build, pass ``on_event``."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.status = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
        )
        self.downloads = Progress(
            TextColumn("  {task.description}", markup=False),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=console,
        )
        self.live = Live(Group(self.status, self.downloads), console=console, transient=True)
        self.task = self.status.add_task("Starting", total=None)
        self.bars: dict[str, TaskID] = {}
        self.download_started: dict[str, float] = {}
        self.finished: list[events.HookFinished] = []
        self.phase = ""
        self.running: events.HookStarted | None = None

    def __enter__(self) -> TerminalView:
        self.live.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.live.stop()
        if exc is not None and self.running is not None:
            hook = self.running
            self.console.print(
                f"  [red]failed[/red] {hook.phase.value:<11} {hook.hook} ({hook.element})",
                highlight=False,
            )
        if self.finished:
            self.console.print(timing_table(self.finished))

    def on_event(self, event: events.Event) -> None:
        """Update the display for one build event."""
        if isinstance(event, events.BuildStarted):
            self.console.print(
                f"Building [bold]{event.image_name}[/bold] "
                f"({', '.join(event.formats)}) from {' '.join(event.elements)}",
                highlight=False,
            )
        elif isinstance(event, events.PhaseStarted):
            self.phase = event.phase.value
            self._describe(f"[bold]{self.phase}[/bold]")
        elif isinstance(event, events.HookStarted):
            self.running = event
            self._describe(f"[bold]{self.phase}[/bold] {event.hook} ({event.element})")
        elif isinstance(event, events.HookFinished):
            self.running = None
            self.finished.append(event)
            self.console.print(
                f"  [green]done[/green] {event.phase.value:<13} {event.hook} ({event.element}) "
                f"[dim]{event.seconds:.2f}s[/dim]",
                highlight=False,
            )
        elif isinstance(event, events.DownloadProgress):
            self._download(event)
        elif isinstance(event, events.OutputWritten):
            self._describe("writing outputs")
            self.console.print(
                f"Wrote [bold]{event.path}[/bold] ({_size(event.size)}, "
                f"sha256 {event.sha256[:16]}...)",
                highlight=False,
            )
        elif isinstance(event, events.BuildFinished):
            self._describe("done")

    def _describe(self, text: str) -> None:
        self.status.update(self.task, description=text)

    def _download(self, event: events.DownloadProgress) -> None:
        bar = self.bars.get(event.url)
        if bar is None:
            name = event.url.rsplit("/", 1)[-1] or event.url
            bar = self.downloads.add_task(name, total=event.total)
            self.bars[event.url] = bar
            self.download_started[event.url] = time.monotonic()
        self.downloads.update(bar, completed=event.done, total=event.total)
        if event.total is not None and event.done >= event.total:
            self.downloads.remove_task(bar)
            del self.bars[event.url]
            seconds = time.monotonic() - self.download_started.pop(event.url)
            self.console.print(
                f"Downloaded {event.url} ({_size(event.done)} in {seconds:.1f}s)", highlight=False
            )


class PlainView:
    """For logs: the log lines carry everything but downloads, which get a line per 25%."""

    def __init__(self) -> None:
        self.reported: dict[str, int] = {}

    def on_event(self, event: events.Event) -> None:
        if not isinstance(event, events.DownloadProgress) or not event.total:
            return
        quarter = min(4, event.done * 4 // event.total)
        if quarter > self.reported.get(event.url, 0):
            self.reported[event.url] = quarter
            log.info("Downloading %s: %d%% of %s", event.url, quarter * 25, _size(event.total))
