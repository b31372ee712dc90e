"""What every benchmark shares: the quiet-machine check, interleaved rounds, latency summaries,
a process's CPU time and the JSON report.

Timings are only worth comparing when nothing else runs: ``QuietCheck`` prints the load
average before and after the run (and the busiest other processes when the machine is not
quiet) and both go into the report. Contenders run in interleaved rounds so that whatever
background load there is hits all of them alike; ratios are computed inside one run.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import os
import platform
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import numpy as np

REPO = Path(__file__).resolve().parents[1]
REPORTS = REPO / "benchmarks" / "reports"

T = TypeVar("T")

# One-minute load average per core above which the machine is not quiet.
QUIET_LOAD_PER_CORE = 0.25


def machine() -> dict[str, Any]:
    """CPU count, platform and the versions of the runtimes being timed."""
    versions = {}
    for package in ("onnxruntime", "openvino", "numpy"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "processor": platform.machine(),
        "python": platform.python_version(),
        **versions,
    }


def busiest_processes(count: int = 5) -> list[str]:
    """The other processes using the most CPU right now (``ps``), for the quiet check."""
    try:
        lines = subprocess.run(
            ["ps", "-eo", "pcpu,pid,comm", "--sort=-pcpu", "--no-headers"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return []
    own = str(os.getpid())
    return [line.strip() for line in lines if line.split()[1] != own][:count]


class QuietCheck:
    """``with QuietCheck() as quiet:`` (or ``start()`` / ``stop()``) around the timed part;
    ``quiet.record`` goes into the report."""

    def __init__(self) -> None:
        self.before: tuple[float, float, float] = os.getloadavg()
        self.after: tuple[float, float, float] | None = None

    def start(self) -> QuietCheck:
        self.before = os.getloadavg()
        print(f"load average before: {_loads(self.before)}", flush=True)
        self._warn(self.before)
        return self

    def stop(self) -> None:
        self.after = os.getloadavg()
        print(f"load average after:  {_loads(self.after)}", flush=True)

    def __enter__(self) -> QuietCheck:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @staticmethod
    def _warn(load: tuple[float, float, float]) -> None:
        limit = QUIET_LOAD_PER_CORE * (os.cpu_count() or 1)
        if load[0] > limit:
            print(f"WARNING: the machine is not quiet (1-min load {load[0]:.2f} > {limit:.2f});")
            print("  ratios below are still side by side, absolute times are not comparable:")
            for line in busiest_processes():
                print(f"    {line}")

    @property
    def record(self) -> dict[str, Any]:
        return {"before": list(self.before), "after": list(self.after or ())}


def _loads(load: tuple[float, float, float]) -> str:
    return " ".join(f"{value:.2f}" for value in load) + f" ({os.cpu_count()} CPUs)"


def interleaved(
    rounds: int, contenders: Mapping[str, Callable[[], T]], progress: bool = True
) -> dict[str, list[T]]:
    """Run every contender once per round, the order rotated each round; their results."""
    names = list(contenders)
    results: dict[str, list[T]] = {name: [] for name in names}
    for index in range(rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            results[name].append(contenders[name]())
        if progress:
            print(f"  round {index + 1}/{rounds} done", flush=True)
    return results


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """Mean and percentiles, in ms, of per-call durations given in seconds."""
    ms = np.asarray(seconds, dtype=np.float64) * 1e3
    return {
        "calls": float(ms.size),
        "mean_ms": float(ms.mean()),
        "p50_ms": float(np.percentile(ms, 50)),
        "p90_ms": float(np.percentile(ms, 90)),
        "p99_ms": float(np.percentile(ms, 99)),
    }


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid``, all threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_tree_cpu_s(pid: int) -> float:
    """``process_cpu_s`` of ``pid`` and of all its live descendants (uvicorn workers), plus
    the CPU time of the children it has already reaped (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    reaped = (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
    total = process_cpu_s(pid) + reaped
    for child in _children(pid):
        try:
            total += process_tree_cpu_s(child)
        except (FileNotFoundError, ProcessLookupError):  # ended meanwhile
            continue
    return total


def _children(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            children += [int(each) for each in (task / "children").read_text().split()]
        except FileNotFoundError:  # thread ended meanwhile
            continue
    return children


def git_state() -> dict[str, Any]:
    """The commit measured, and whether the working tree had uncommitted changes (outside
    ``benchmarks/reports``)."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, check=False
        ).stdout.strip()

    # Reports the benchmarks themselves rewrite do not count as a change to what was measured.
    changes = git("status", "--porcelain", "--", ".", ":(exclude)benchmarks/reports")
    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(changes)}


def write_report(path: Path, payload: Mapping[str, Any], quiet: QuietCheck | None) -> None:
    """``payload`` plus date, machine, git state and the load averages, as indented JSON."""
    report = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "git": git_state(),
        "load_average": quiet.record if quiet is not None else None,
        **payload,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1) + "\n")
    shown = path.relative_to(REPO) if path.is_relative_to(REPO) else path
    print(f"report: {shown}")
