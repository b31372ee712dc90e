"""Reporting for the load-test runner: per-profile summaries, the latency-vs-throughput plot,
machine information and the Markdown summary."""

from __future__ import annotations

import contextlib
import csv
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
from dataclasses import asdict
from pathlib import Path
from typing import Any

from loadtests.sampling import StageStats, percentile, read_requests, stage_stats, write_stages

ROOT = Path(__file__).resolve().parents[1]


def plot(path: Path, title: str, curves: dict[str, list[StageStats]], unit: str) -> None:
    """Latency (p50 solid, p95 dashed, p99 dotted) against achieved throughput, one colour
    per backend, each point labelled with its user count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    for index, (label, stages) in enumerate(curves.items()):
        if not stages:
            continue
        colour = f"C{index}"
        x = [s.items_per_s for s in stages]
        for attr, style in (("p50_ms", "-"), ("p95_ms", "--"), ("p99_ms", ":")):
            ax.plot(
                x,
                [getattr(s, attr) for s in stages],
                style,
                marker="o",
                color=colour,
                label=f"{label} {attr.removesuffix('_ms')}",
            )
        for s in stages:
            ax.annotate(
                f"{s.users}u",
                (s.items_per_s, s.p95_ms),
                textcoords="offset points",
                xytext=(4, 4),
                fontsize=7,
                color=colour,
            )
    ax.set_xlabel(f"throughput ({unit}/s, successful)")
    ax.set_ylabel("latency (ms)")
    ax.set_title(title)
    ax.set_ylim(bottom=0)
    ax.set_xlim(left=0)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def machine_info() -> dict[str, Any]:
    def first(path: str, key: str) -> str:
        try:
            for line in Path(path).read_text().splitlines():
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return "unknown"

    versions = {}
    for package in ("onnxruntime", "onnxruntime-gpu", "fastapi", "uvicorn", "locust", "numpy"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if dirty:
            commit += "+uncommitted-changes"
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    gpu = "none"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        gpu = (
            subprocess.run(
                ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                check=True,
                timeout=10,
            ).stdout.strip()
            or "none"
        )
    return {
        "platform": platform.platform(),
        "cpu": first("/proc/cpuinfo", "model name"),
        "logical_cpus": os.cpu_count(),
        "memory": first("/proc/meminfo", "MemTotal"),
        "gpu": gpu,
        "python": platform.python_version(),
        "packages": versions,
        "git_commit": commit,
        "note": "locust and the gateway share this machine's CPUs",
    }


def summarise(
    backend: str,
    profile: str,
    out: Path,
    stages: list[int],
    stage_seconds: float,
    locust_code: int,
) -> dict[str, Any]:
    rows = read_requests(out / f"{profile}_requests.csv")
    per_stage = stage_stats(rows, stages, stage_seconds)
    write_stages(out / f"{profile}_stages.csv", per_stage)
    failures: list[dict[str, str]] = []
    failures_csv = out / f"{profile}_failures.csv"
    if failures_csv.exists():
        with open(failures_csv, newline="") as handle:
            failures = list(csv.DictReader(handle))
    ok = [r["response_ms"] for r in rows if r["success"]]
    return {
        "backend": backend,
        "profile": profile,
        "locust_exit_code": locust_code,
        "requests": len(rows),
        "failures": sum(not r["success"] for r in rows),
        "items_ok": sum(r["items"] for r in rows if r["success"]),
        "p50_ms": round(percentile(ok, 50), 2) if ok else None,
        "p95_ms": round(percentile(ok, 95), 2) if ok else None,
        "p99_ms": round(percentile(ok, 99), 2) if ok else None,
        "mean_ms": round(statistics.fmean(ok), 2) if ok else None,
        "by_name": {
            name: {
                "requests": len(group),
                "failures": sum(not r["success"] for r in group),
                "p50_ms": round(percentile([r["response_ms"] for r in group], 50), 2),
                "p95_ms": round(percentile([r["response_ms"] for r in group], 95), 2),
                "max_ms": round(max(r["response_ms"] for r in group), 2),
            }
            for name in sorted({r["name"] for r in rows})
            for group in [[r for r in rows if r["name"] == name]]
        },
        "failure_reasons": failures[:20],
        "stages": [asdict(s) for s in per_stage],
    }


def render_markdown(summary: dict[str, Any]) -> str:
    machine = summary["machine"]
    lines = [
        "# Load test report",
        "",
        f"Started {summary['started']}, finished {summary['finished']}; "
        f"**{'passed' if summary['passed'] else 'FAILED'}** (zero failed checks required).",
        "",
        "## Machine",
        "",
        f"- CPU: {machine['cpu']} ({machine['logical_cpus']} logical CPUs), "
        f"memory {machine['memory']}, GPU: {machine['gpu']}",
        f"- {machine['platform']}, Python {machine['python']}, commit {machine['git_commit']}",
        f"- packages: {', '.join(f'{k} {v}' for k, v in machine['packages'].items())}",
        f"- {machine['note']}",
        "",
        "## Settings",
        "",
        f"```json\n{json.dumps(summary['settings'], indent=2)}\n```",
        "",
    ]
    for backend, info in summary.get("gateway", {}).items():
        lines.append(
            f"Gateway ({backend}) RSS: {info['rss_ready_mib']} MiB when ready, "
            f"{info['rss_end_mib']} MiB at the end, max {info['rss_max_mib']} MiB; exit code "
            f"{info['exit_code']} after SIGTERM (-15: uvicorn shut down cleanly and re-raised "
            "the signal)."
        )
    lines.append("")
    for run in summary["runs"]:
        if "stages" not in run:
            lines += [f"## {run.get('backend')} / {run.get('profile', '-')}", "", str(run), ""]
            continue
        unit = "frames" if run["profile"] == "frame" else "crops"
        lines += [
            f"## {run['backend']} backend, {run['profile']}",
            "",
            f"{run['requests']} requests, {run['failures']} failed, {run['items_ok']} {unit} "
            f"answered and checked; latency p50 {run['p50_ms']} ms, p95 {run['p95_ms']} ms, "
            f"p99 {run['p99_ms']} ms.",
            "",
            f"| users | requests | failed | req/s | {unit}/s | p50 ms | p95 ms | p99 ms |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for s in run["stages"]:
            lines.append(
                f"| {s['users']} | {s['requests']} | {s['failures']} | {s['requests_per_s']} "
                f"| {s['items_per_s']} | {s['p50_ms']} | {s['p95_ms']} | {s['p99_ms']} |"
            )
        if len(run.get("by_name", {})) > 1:
            lines += ["", "| request name | requests | failed | p50 ms | p95 ms | max ms |"]
            lines.append("|---|---:|---:|---:|---:|---:|")
            for name, info in run["by_name"].items():
                lines.append(
                    f"| `{name}` | {info['requests']} | {info['failures']} | {info['p50_ms']} "
                    f"| {info['p95_ms']} | {info['max_ms']} |"
                )
            lines.append("")
        cpu = run.get("cpu", {})
        lines += [
            "",
            f"CPU over {cpu.get('wall_s')} s of load: gateway {cpu.get('gateway_cpu_s')} CPU-s, "
            f"locust {cpu.get('locust_cpu_s')} CPU-s; 1-min load average "
            f"{cpu.get('loadavg_1m_before')} before, {cpu.get('loadavg_1m_after')} after "
            "(other processes on the machine count too).",
            "",
            f"![latency vs throughput]({run['backend']}/{run['profile']}"
            "_latency_vs_throughput.png)",
            "",
        ]
        for failure in run["failure_reasons"]:
            lines.append(f"- failure: {failure}")
    return "\n".join(lines) + "\n"
