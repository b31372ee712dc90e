"""The benchmark harness: interleaving, summaries and the report (no timings asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.harness import (
    QuietCheck,
    interleaved,
    latency_summary,
    process_cpu_s,
    process_tree_cpu_s,
    write_report,
)


def test_interleaved_rotates_the_order_every_round() -> None:
    calls: list[str] = []
    contenders = {name: (lambda name=name: calls.append(name) or name) for name in "abc"}
    results = interleaved(3, contenders, progress=False)
    assert calls == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
    assert results == {"a": ["a"] * 3, "b": ["b"] * 3, "c": ["c"] * 3}


def test_latency_summary_in_milliseconds() -> None:
    summary = latency_summary([0.001, 0.002, 0.003, 0.004])
    assert summary["calls"] == 4
    assert summary["mean_ms"] == pytest.approx(2.5)
    assert summary["p50_ms"] == pytest.approx(2.5)
    assert 3.9 < summary["p99_ms"] <= 4.0


def test_process_cpu_time_is_the_process_user_plus_system_time() -> None:
    """What /proc says equals the kernel's own CPU clock of this process, to its tick: user
    and system time are each whole clock ticks there."""
    tick = 1 / os.sysconf("SC_CLK_TCK")
    before = process_cpu_s(os.getpid())
    start = time.process_time()
    while time.process_time() - start < 0.05:  # some CPU work (bounded in CPU time)
        sum(range(10_000))
    low = time.process_time()
    measured = process_cpu_s(os.getpid())
    high = time.process_time()
    assert low - 2 * tick <= measured <= high + tick
    assert measured > before


def test_process_tree_cpu_time_counts_a_busy_child() -> None:
    child = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        own = process_cpu_s(os.getpid())
        deadline = time.monotonic() + 30
        while process_cpu_s(child.pid) < 0.2 and time.monotonic() < deadline:
            time.sleep(0.05)
        # The child's CPU is in the tree's, not in this process's own.
        assert process_tree_cpu_s(os.getpid()) - process_cpu_s(os.getpid()) >= 0.2
        assert process_cpu_s(os.getpid()) - own < 0.2
    finally:
        child.kill()
        child.wait()


def test_report_carries_load_machine_and_git_state(tmp_path: Path) -> None:
    with QuietCheck() as quiet:
        pass
    path = tmp_path / "report.json"
    write_report(path, {"ratio": 1.5}, quiet)
    report = json.loads(path.read_text())
    assert report["ratio"] == 1.5
    assert len(report["load_average"]["before"]) == len(report["load_average"]["after"]) == 3
    assert report["machine"]["cpus"] == os.cpu_count()
    assert len(report["git"]["commit"]) == 40
