"""Build two variants of the tiny-busybox image with the Python API and compare them.

    sudo python examples/api_variants.py [--output-dir DIR]

Each variant is one ``dibpy.build`` call with its own settings (``env``), so both run in
this one process. An ``on_event`` callback counts the hooks, commands and time of each
build; at the end a table shows what was built. Needs root and busybox-static.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

import dibpy
from dibpy import events

ELEMENTS = Path(__file__).resolve().parent / "elements"  # tiny-busybox

VARIANTS = {
    "standard": {},
    "custom": {"TINY_GREETING": "Welcome to the custom variant", "TINY_UID": "2000"},
}


@dataclass
class Watcher:
    """An on_event callback: keeps what a summary needs, prints each phase as it ends."""

    name: str
    console: Console
    counts: Counter[str] = field(default_factory=Counter)
    hook_seconds: float = 0.0

    def __call__(self, event: events.Event) -> None:
        self.counts[type(event).__name__] += 1
        if isinstance(event, events.HookFinished):
            self.hook_seconds += event.seconds
        elif isinstance(event, events.PhaseFinished):
            self.console.print(f"{self.name}: {event.phase} done in {event.seconds:.2f}s")
        elif isinstance(event, events.LogLine) and event.message.startswith("$ "):
            self.counts["commands"] += 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, default=Path.cwd())
    args = parser.parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else 120)  # whole names in logs
    args.output_dir.mkdir(parents=True, exist_ok=True)

    plan = dibpy.plan(["tiny-busybox"], element_paths=[ELEMENTS], skip_base=True)
    hooks = sum(len(h) for h in plan.phases.values())
    console.print(f"Plan: {' '.join(plan.elements)}, {hooks} hooks")

    table = Table(title="Variants of tiny-busybox")
    for column in ("variant", "output", "size", "sha256", "hooks", "commands", "hook time"):
        table.add_column(column, no_wrap=True)
    for name, settings in VARIANTS.items():
        watcher = Watcher(name, console)
        try:
            result = dibpy.build(
                ["tiny-busybox"],
                output=args.output_dir / f"tiny-{name}",
                formats=["tar"],
                element_paths=[ELEMENTS],
                skip_base=True,
                env={**os.environ, **settings},
                on_event=watcher,
            )
        except dibpy.DibError as error:  # e.g. HookError: error.phase, error.element, error.hook
            console.print(f"[red]{name} failed[/red] in {error.phase} / {error.hook}: {error}")
            return 1
        output = result.outputs[0]
        table.add_row(
            name,
            output.name,
            f"{output.stat().st_size / 2**20:.1f} MiB",
            result.checksums[output][:12],
            str(watcher.counts["HookFinished"]),
            str(watcher.counts["commands"]),
            f"{watcher.hook_seconds:.2f}s",
        )
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
