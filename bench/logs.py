"""Phase timings read back from what the builds print: dibpy's --log-file, DIB's output.

dibpy logs "Running the PHASE phase" when a phase starts and a dib-run-parts style table
("PHASE phase timings:" then "  hook (element)  seconds") when it ends; after the phases it
logs "Assembling a ... disk" and runs "$ qemu-img convert ...". DIB's dib-run-parts prints
"dib-run-parts Target: PHASE.d", a "Script Seconds" table and "END PROFILING" per phase.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

_DIBPY_RECORD = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) \| \w+ [\w.]+ \| (.*)$")
_DIBPY_HOOK_ROW = re.compile(r"^\s+(\S+) \((\S+)\)\s+([\d.]+)$")
_DIB_TARGET = re.compile(r"dib-run-parts Target: (\S+)\.d$")
_DIB_SCRIPT_ROW = re.compile(r"dib-run-parts (\S+)\s+(\d+\.\d+)$")
_DIB_TABLE_END = "END PROFILING"

# Markers that start a new segment of a dibpy build, after its phases.
_AFTER_PHASES = "after phases"  # releasing mounts, tidying the tree, tree outputs (tar)
_SEGMENT_STARTS = {
    "Assembling a ": "disk assembly",
    "$ qemu-img convert ": "qemu-img convert",
    "Wrote ": "remove build dir",  # then the process exits
}


@dataclass(frozen=True)
class Record:
    """One log record of dibpy; a multi-line message keeps its continuation lines."""

    at: datetime
    message: str


@dataclass(frozen=True)
class HookSeconds:
    phase: str
    hook: str
    seconds: float


def dibpy_records(log_file: Path) -> list[Record]:
    """The records of a dibpy --log-file, in order."""
    records: list[Record] = []
    for line in log_file.read_text(errors="replace").splitlines():
        match = _DIBPY_RECORD.match(line)
        if match:
            at = datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S.%f")
            records.append(Record(at, match[2]))
        elif records:
            last = records[-1]
            records[-1] = Record(last.at, f"{last.message}\n{line}")
    return records


def dibpy_segments(records: list[Record], started: datetime, ended: datetime) -> dict[str, float]:
    """Wall seconds per consecutive segment: startup, each phase, then assembly and outputs.

    A phase's segment runs from its start to the next segment's start, so the small work
    between phases (fstab, releasing mounts) counts in the phase before it and the segments
    add up to the run's wall time.
    """
    starts: list[tuple[str, datetime]] = [("startup", started)]
    for record in records:
        name = _segment_started_by(record.message)
        if name is not None:
            starts.append((name, record.at))
    ends = [at for _, at in starts[1:]] + [ended]
    segments: dict[str, float] = {}
    for (name, begin), end in zip(starts, ends, strict=True):
        segments[name] = segments.get(name, 0.0) + (end - begin).total_seconds()
    return segments


def _segment_started_by(message: str) -> str | None:
    if message.startswith("Running the ") and " phase (" in message:
        return message.removeprefix("Running the ").split(" phase (")[0]
    if message.startswith("cleanup phase timings:"):
        return _AFTER_PHASES
    for prefix, name in _SEGMENT_STARTS.items():
        if message.startswith(prefix):
            return name
    return None


def dibpy_hooks(records: list[Record]) -> list[HookSeconds]:
    """Every hook's seconds, from the tables dibpy logs at the end of each phase."""
    hooks = []
    for record in records:
        head, _, table = record.message.partition("\n")
        if not head.endswith(" phase timings:"):
            continue
        phase = head.removesuffix(" phase timings:")
        for row in table.splitlines():
            match = _DIBPY_HOOK_ROW.match(row)
            if match:
                hooks.append(HookSeconds(phase, f"{match[1]} ({match[2]})", float(match[3])))
    return hooks


def dib_hooks(output: Path) -> list[HookSeconds]:
    """Every script's seconds, from the tables DIB's dib-run-parts prints per phase."""
    hooks = []
    phase = None
    for line in output.read_text(errors="replace").splitlines():
        if target := _DIB_TARGET.search(line):
            phase = target[1]
        elif _DIB_TABLE_END in line:
            phase = None
        elif phase and (row := _DIB_SCRIPT_ROW.search(line)):
            hooks.append(HookSeconds(phase, row[1], float(row[2])))
    return hooks


def seconds_per_phase(hooks: list[HookSeconds]) -> dict[str, float]:
    """The sum of hook seconds per phase, phases in the order they ran."""
    totals: dict[str, float] = {}
    for hook in hooks:
        totals[hook.phase] = totals.get(hook.phase, 0.0) + hook.seconds
    return totals
