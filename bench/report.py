"""The tables the benchmark prints, from the same dictionaries it writes as JSON."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

MIB = 2**20
TARGET_RATIO = 0.5

console = Console()


def print_vm(vm: dict[str, Any]) -> None:
    """Cold and warm `vm debian-minimal` qcow2 builds, segment by segment."""
    cold, warm = vm["cold"], vm["warm"]
    table = Table(title="dibpy build vm debian-minimal (qcow2): wall seconds per segment")
    table.add_column("segment")
    table.add_column("cold", justify="right")
    table.add_column("warm", justify="right")
    names = list(dict.fromkeys([*cold["segments"], *warm["segments"]]))
    for name in names:
        table.add_row(name, *(_seconds(run["segments"].get(name)) for run in (cold, warm)))
    table.add_section()
    table.add_row("total (wall)", f"{cold['seconds']:.1f}", f"{warm['seconds']:.1f}")
    for label, key in _MEMORY_ROWS:
        table.add_row(f"peak RSS, {label} MiB", f"{cold[key]:.0f}", f"{warm[key]:.0f}")
    table.add_row("qcow2 MiB", *(f"{run['output_bytes'] / MIB:.0f}" for run in (cold, warm)))
    table.add_row("load avg (1 min) before", _load(cold), _load(warm))
    console.print(table)


def print_tar(tar: dict[str, Any]) -> None:
    """Every tar run, the hook seconds per phase of both tools, and the ratio."""
    runs = Table(title="-t tar debian-minimal: an untimed warm-up, then dibpy and DIB in turn")
    memory_columns = [f"RSS {label} MiB" for label, _ in _MEMORY_ROWS]
    for column in ("run", "tool", "seconds", *memory_columns, "tar MiB"):
        runs.add_column(column, justify="left" if column in ("run", "tool") else "right")
    runs.add_column("load before", justify="right")
    rows = [("warm-up", tar["warmup"])]
    rows += [(f"round {n}", r) for n, r in enumerate(tar["rounds"], 1)]
    for name, pair in rows:
        for tool in ("dibpy", "dib"):
            run = pair[tool]
            memory = [f"{run[key]:.0f}" for _, key in _MEMORY_ROWS]
            size = f"{run['output_bytes'] / MIB:.0f}"
            runs.add_row(name, tool, f"{run['seconds']:.1f}", *memory, size, _load(run))
    console.print(runs)
    console.print(_phase_table(tar["rounds"]))
    ratio = tar["ratio"]
    verdict = "meets" if ratio <= TARGET_RATIO else "misses"
    rounds = ", ".join(f"{r:.2f}" for r in tar["round_ratios"])
    console.print(
        f"dibpy/DIB wall-time ratio: {ratio:.2f} (mean {tar['mean_seconds']['dibpy']:.1f} s / "
        f"{tar['mean_seconds']['dib']:.1f} s; per round {rounds}); {verdict} the target "
        f"of {TARGET_RATIO:.2f} or less"
    )


_MEMORY_ROWS = [  # (label, key): the largest single process (exact), the tree's sum (sampled)
    ("one process", "max_rss_mib"),
    ("tree", "tree_rss_mib"),
]


def _phase_table(rounds: list[dict[str, Any]]) -> Table:
    """The mean over the timed rounds of each phase's hook seconds, side by side."""
    table = Table(title="tar: hook seconds per phase, mean of the timed rounds")
    table.add_column("phase")
    table.add_column("dibpy", justify="right")
    table.add_column("DIB", justify="right")
    means = {tool: _mean_phases([r[tool] for r in rounds]) for tool in ("dibpy", "dib")}
    for phase in dict.fromkeys([*means["dib"], *means["dibpy"]]):
        table.add_row(phase, _seconds(means["dibpy"].get(phase)), _seconds(means["dib"].get(phase)))
    return table


def _mean_phases(runs: list[dict[str, Any]]) -> dict[str, float]:
    phases = dict.fromkeys(p for run in runs for p in run["phase_hook_seconds"])
    return {
        phase: sum(run["phase_hook_seconds"].get(phase, 0.0) for run in runs) / len(runs)
        for phase in phases
    }


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _load(run: dict[str, Any]) -> str:
    return f"{run['load_before'][0]:.2f}"
