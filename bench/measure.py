"""Run one build in a fresh child: wall time, exit code and the peak memory of its process tree."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

SAMPLE_SECONDS = 0.25


@dataclass
class Measured:
    """One run. Memory is in MiB; ``started`` is in epoch seconds, to align log times."""

    argv: list[str]
    exit_code: int
    seconds: float
    started: float
    max_rss_mib: float  # the largest single process of the tree (kernel-exact, getrusage)
    tree_rss_mib: float  # the largest sum of RSS over the whole tree (sampled)
    load_before: tuple[float, float, float]
    output_log: str


def measure(argv: Sequence[str], env: Mapping[str, str], output_log: Path) -> Measured:
    """Run ``argv`` with stdout and stderr into ``output_log``; wait for it and measure."""
    load_before = os.getloadavg()
    with output_log.open("w") as out:
        started = time.time()
        clock = time.monotonic()
        proc = subprocess.Popen(
            list(argv), env=dict(env), stdin=subprocess.DEVNULL, stdout=out, stderr=out
        )
        sampler = _TreeSampler(proc.pid)
        sampler.start()
        # wait4 gives this child's rusage, its reaped descendants included; Popen.wait does
        # not, and RUSAGE_CHILDREN would mix in the earlier runs of this benchmark.
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.monotonic() - clock
        proc.returncode = os.waitstatus_to_exitcode(status)
        sampler.stop()
    return Measured(
        argv=list(argv),
        exit_code=proc.returncode,
        seconds=seconds,
        started=started,
        max_rss_mib=usage.ru_maxrss / 1024,  # Linux reports KiB
        tree_rss_mib=sampler.peak / 2**20,
        load_before=load_before,
        output_log=str(output_log),
    )


class _TreeSampler(threading.Thread):
    """Sums the RSS of a process and all its descendants every SAMPLE_SECONDS; keeps the peak.

    Shared pages count once per process, so this overstates real use a little; it is what
    `ps` would add up, and shows what the whole build holds at once, which ru_maxrss cannot.
    """

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.peak = 0
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.is_set():
            self.peak = max(self.peak, self._tree_rss())
            self._stopped.wait(SAMPLE_SECONDS)

    def stop(self) -> None:
        self._stopped.set()
        self.join()

    def _tree_rss(self) -> int:
        try:
            processes = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:  # the build has just exited
            return 0
        total = 0
        for process in processes:
            try:
                total += process.memory_info().rss
            except psutil.Error:  # exited between the listing and the read
                continue
        return total
