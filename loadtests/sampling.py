"""Sampling what a load test produced: per-request rows, per-step statistics, gateway RSS."""

from __future__ import annotations

import csv
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


class RssSampler:
    """RSS of a process and its children (bytes), every ``period_s`` in a daemon thread."""

    def __init__(self, pid: int, period_s: float = 2.0) -> None:
        self.samples: list[tuple[float, int]] = []
        self._pid = pid
        self._period_s = period_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psutil

        try:
            process = psutil.Process(self._pid)
            while not self._stop.is_set():
                rss = process.memory_info().rss
                for child in process.children(recursive=True):
                    rss += child.memory_info().rss
                self.samples.append((time.time(), rss))
                self._stop.wait(self._period_s)
        except psutil.Error:
            return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def summary(self, since: float | None) -> dict[str, float | None]:
        """RSS in MiB at ``since`` (first sample after it), at the end, and the max."""
        after = [rss for t, rss in self.samples if since is None or t >= since]

        def mib(value: int | None) -> float | None:
            return None if value is None else round(value / 2**20, 1)

        return {
            "rss_ready_mib": mib(after[0] if after else None),
            "rss_end_mib": mib(after[-1] if after else None),
            "rss_max_mib": mib(max(after) if after else None),
        }

    def write_csv(self, path: Path) -> None:
        with open(path, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["time", "rss_bytes"])
            writer.writerows((f"{t:.3f}", rss) for t, rss in self.samples)


@dataclass
class StageStats:
    users: int
    requests: int
    failures: int
    items: int
    seconds: float
    requests_per_s: float
    items_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float


def read_requests(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with open(path, newline="") as handle:
        return [
            {
                "name": row["name"],
                "start": float(row["start"]),
                "response_ms": float(row["response_ms"]),
                "items": int(row["items"]),
                "success": row["success"] == "1",
                "users": int(row["users"]),
            }
            for row in csv.DictReader(handle)
        ]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def stage_stats(
    rows: list[dict[str, Any]], stages: list[int], stage_seconds: float
) -> list[StageStats]:
    """Per user step: throughput and latency of the requests started inside that step's time
    window (the first request marks t=0; the first 20% of each step, at most 1 s, is ramp-up
    and left out). Throughput counts successful requests and the crops they carried."""
    if not rows:
        return []
    t0 = min(r["start"] for r in rows)
    ramp = min(1.0, 0.2 * stage_seconds)
    result = []
    for index, users in enumerate(stages):
        begin = t0 + index * stage_seconds + ramp
        end = t0 + (index + 1) * stage_seconds
        group = [r for r in rows if begin <= r["start"] < end]
        if not group:
            continue
        seconds = end - begin
        ok = [r["response_ms"] for r in group if r["success"]]
        latencies = ok or [r["response_ms"] for r in group]
        items = sum(r["items"] for r in group if r["success"])
        result.append(
            StageStats(
                users=users,
                requests=len(group),
                failures=sum(not r["success"] for r in group),
                items=items,
                seconds=round(seconds, 3),
                requests_per_s=round(len(ok) / seconds, 2),
                items_per_s=round(items / seconds, 2),
                p50_ms=round(percentile(latencies, 50), 2),
                p95_ms=round(percentile(latencies, 95), 2),
                p99_ms=round(percentile(latencies, 99), 2),
                max_ms=round(max(latencies), 2),
            )
        )
    return result


def write_stages(path: Path, stages: list[StageStats]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(StageStats.__dataclass_fields__))
        writer.writeheader()
        writer.writerows(asdict(s) for s in stages)
