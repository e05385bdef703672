"""Benchmark of issue 4: dibpy's vm qcow2 build cold and warm, and dibpy against DIB on tar.

Run as root on Debian 12: `nox -s bench`, or `python bench/run.py` in an environment with
dibpy and psutil installed. See bench/README.md.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dib
import logs
import report
from measure import Measured, measure

RESULTS = Path(__file__).resolve().parent / "results"
RELEASE = "bookworm"


class BenchError(Exception):
    """A build failed; the message names its output log."""


@dataclass(frozen=True)
class Bench:
    """Where one benchmark run keeps things."""

    cache: Path  # dibpy/ and dib/ image caches, out/ for the images (deleted after each run)
    logs: Path  # every run's output and dibpy's --log-file (bench/results/STAMP/)
    dib_bin: Path | None

    @property
    def out(self) -> Path:
        return self.cache / "out"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    dib_bin = dib.ensure_venv(args.dib_version) if "tar" in args.only else None
    bench = Bench(args.cache_dir.absolute(), RESULTS / stamp, dib_bin)
    bench.logs.mkdir(parents=True)
    bench.out.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"date": stamp, "host": _host(), "versions": _versions(args)}
    try:
        if "vm" in args.only:
            result["vm"] = vm_bench(bench)
            report.print_vm(result["vm"])
        if "tar" in args.only:
            result["tar"] = tar_bench(bench, args.rounds)
            report.print_tar(result["tar"])
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    finally:
        result["host"]["load_at_end"] = os.getloadavg()
        path = RESULTS / f"{stamp}.json"
        path.write_text(json.dumps(result, indent=2) + "\n")
        print(f"Results: {path}\nLogs: {bench.logs}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path("/var/tmp/dibpy-bench-cache"),  # noqa: S108 (a developer's own cache)
        help="the benchmark's own image caches and outputs (default: %(default)s)",
    )
    parser.add_argument(
        "--rounds", type=int, default=2, help="timed tar rounds of each tool (default: 2)"
    )
    parser.add_argument(
        "--dib-version", default="3.43.0", help="diskimage-builder from PyPI (default: 3.43.0)"
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=["vm", "tar"],
        default=["vm", "tar"],
        help="run only these parts (default: both)",
    )
    return parser


def vm_bench(bench: Bench) -> dict[str, Any]:
    """`dibpy build vm debian-minimal` on an empty image cache, then again on the same cache."""
    shutil.rmtree(bench.cache / "dibpy", ignore_errors=True)
    cold = run_dibpy(bench, "vm-cold", ["vm", "debian-minimal"])
    warm = run_dibpy(bench, "vm-warm", ["vm", "debian-minimal"])
    return {"cold": cold, "warm": warm}


def tar_bench(bench: Bench, rounds: int) -> dict[str, Any]:
    """Warm caches (one untimed run of each), then the two tools in turn, ROUNDS times."""
    elements = ["-t", "tar", "debian-minimal"]
    warmup = {
        "dibpy": run_dibpy(bench, "tar-warmup-dibpy", elements),
        "dib": run_dib(bench, "tar-warmup-dib"),
    }
    timed = [
        {
            "dibpy": run_dibpy(bench, f"tar-{n}-dibpy", elements),
            "dib": run_dib(bench, f"tar-{n}-dib"),
        }
        for n in range(1, rounds + 1)
    ]
    means = {tool: statistics.mean(r[tool]["seconds"] for r in timed) for tool in ("dibpy", "dib")}
    return {
        "warmup": warmup,
        "rounds": timed,
        "mean_seconds": means,
        "ratio": means["dibpy"] / means["dib"],
        "round_ratios": [r["dibpy"]["seconds"] / r["dib"]["seconds"] for r in timed],
    }


def run_dibpy(bench: Bench, label: str, build_args: list[str]) -> dict[str, Any]:
    """One `dibpy build` with the benchmark's dibpy image cache.

    The venv's `dibpy` script, not `python -m dibpy`: run from the checkout, -m would import
    the working tree, which other work may change between two runs of one benchmark.
    """
    log_file = bench.logs / f"{label}.log"
    dibpy = Path(sys.executable).parent / "dibpy"
    argv = [
        *(str(dibpy), "build", "-o", str(bench.out / label)),
        *("--image-cache", str(bench.cache / "dibpy"), "--log-file", str(log_file)),
        *build_args,
    ]
    measured = _measure(argv, {**os.environ, "DIB_RELEASE": RELEASE}, bench, label)
    records = logs.dibpy_records(log_file)
    started = datetime.fromtimestamp(measured.started)  # local time, as the log's
    ended = datetime.fromtimestamp(measured.started + measured.seconds)
    hooks = logs.dibpy_hooks(records)
    return {
        **asdict(measured),
        "segments": logs.dibpy_segments(records, started, ended),
        "phase_hook_seconds": logs.seconds_per_phase(hooks),
        "hooks": [asdict(hook) for hook in hooks],
        "output_bytes": _take_outputs(bench.out),
    }


def run_dib(bench: Bench, label: str) -> dict[str, Any]:
    """One `disk-image-create -t tar debian-minimal` with the benchmark's DIB image cache."""
    assert bench.dib_bin is not None  # noqa: S101 (narrows for mypy)
    env = {
        **os.environ,
        "DIB_RELEASE": RELEASE,
        "DIB_IMAGE_CACHE": str(bench.cache / "dib"),
        # DIB's default, security.debian.org, answers 400 here; dibpy's default is this one.
        "DIB_DEBIAN_SECURITY_MIRROR": "http://deb.debian.org/debian-security",
        "PATH": f"{bench.dib_bin}:{os.environ['PATH']}",  # DIB runs its own helpers by name
    }
    argv = [str(bench.dib_bin / "disk-image-create"), "-t", "tar", "-o", str(bench.out / label)]
    measured = _measure([*argv, "debian-minimal"], env, bench, label)
    hooks = logs.dib_hooks(Path(measured.output_log))
    return {
        **asdict(measured),
        "phase_hook_seconds": logs.seconds_per_phase(hooks),
        "hooks": [asdict(hook) for hook in hooks],
        "output_bytes": _take_outputs(bench.out),
    }


def _measure(argv: list[str], env: dict[str, str], bench: Bench, label: str) -> Measured:
    print(f"bench: {label}: {' '.join(argv)}", flush=True)
    measured = measure(argv, env, bench.logs / f"{label}.out")
    if measured.exit_code != 0:
        tail = Path(measured.output_log).read_text(errors="replace").splitlines()[-20:]
        raise BenchError(
            f"{label} failed with exit code {measured.exit_code}; its output is in "
            f"{measured.output_log}, ending:\n" + "\n".join(tail)
        )
    print(f"bench: {label}: {measured.seconds:.1f} s", flush=True)
    return measured


def _take_outputs(out: Path) -> int:
    """The size of what a run wrote; it is deleted, only the figure is kept.

    DIB also writes NAME.d/ (its manifests) beside the image, so directories count too.
    """
    total = 0
    for path in out.iterdir():
        files = [f for f in path.rglob("*") if f.is_file()] if path.is_dir() else [path]
        total += sum(f.stat().st_size for f in files)
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    return total


def _host() -> dict[str, Any]:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(memory / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_at_start": os.getloadavg(),
    }


def _versions(args: argparse.Namespace) -> dict[str, str]:
    """dibpy's version and the checkout it was installed from (nox installs the work tree)."""
    describe = ["git", "-C", str(RESULTS.parent), "describe", "--always", "--dirty"]
    commit = subprocess.run(describe, capture_output=True, text=True, check=False).stdout
    versions = {"dibpy": importlib.metadata.version("dibpy"), "checkout": commit.strip()}
    if "tar" in args.only:
        versions["diskimage-builder"] = args.dib_version
    return versions


if __name__ == "__main__":
    sys.exit(main())
