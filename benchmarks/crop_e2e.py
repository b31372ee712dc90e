"""/v1/crop end to end: server CPU per image, img/s and p50/p99 at 1, 4 and 16 concurrent
clients, beside MediaPipe's FaceLandmarkCpu in process on the same crops.

    .venv/bin/python -m benchmarks.crop_e2e [--clients 1,4,16] [--seconds 10]
        [--setting FACEMESH_RUNTIME=onnxruntime ...] [--report PATH]

The gateway (``python -m service``, started by the live-server helper the tests use, default
settings unless ``--setting``) answers closed-loop clients, each posting one 192x192 PNG crop
(``tests/data/crops``, in turn) per request. For each client count: a warm-up, then
``--seconds`` of requests; the server's CPU time is read from ``/proc/<pid>/stat`` (user +
system, every thread of the process) before and after, so *server CPU per image* does not
depend on what else the machine runs, unlike img/s and latencies. MediaPipe's CPU per crop
comes from its own graph in process (the oracle worker ``tools/oracle/mediapipe_worker.py``,
decoded crops, graph included), one round of every crop before each client count so both see
the same machine load. Prints the load average before and after, and the ratio server CPU per
image / MediaPipe CPU per crop (target <= 1.3 at 16 clients); writes a JSON report.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.harness import (
    REPO,
    REPORTS,
    QuietCheck,
    latency_summary,
    process_cpu_s,
    write_report,
)
from tools.oracle.oracle_env import WORKERS, OracleWorker
from tools.servers.gateway import LiveServer, start_server

CROPS = sorted((REPO / "tests" / "data" / "crops").glob("*.png"))
REPORT = REPORTS / "crop_e2e.json"


async def closed_loop(
    base_url: str, bodies: list[bytes], clients: int, seconds: float
) -> tuple[int, list[float], int]:
    """``clients`` closed-loop clients for ``seconds``: (answers, latencies in s, errors)."""
    latencies: list[float] = []  # seconds
    errors = 0
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"content-type": "image/png"}
    async with httpx.AsyncClient(base_url=base_url, timeout=60.0, limits=limits) as client:

        async def one(index: int) -> None:
            nonlocal errors
            turn = index
            while time.perf_counter() < stop:
                body = bodies[turn % len(bodies)]
                turn += clients
                start = time.perf_counter()
                response = await client.post("/v1/crop", content=body, headers=headers)
                if response.status_code == 200:
                    latencies.append(time.perf_counter() - start)
                else:
                    errors += 1

        await asyncio.gather(*(one(index) for index in range(clients)))
    return len(latencies), latencies, errors


def model_calls(server: LiveServer) -> tuple[float, float]:
    """(model calls, images in them) of the attention model so far, from /metrics."""
    text = server.client().get("/metrics", follow_redirects=True).text
    found = {"count": 0.0, "sum": 0.0}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.labels.get("model") != "attention":
                continue
            for key in found:
                if sample.name == f"facemesh_model_batch_size_images_{key}":
                    found[key] = float(sample.value)
    return found["count"], found["sum"]


def level(server: LiveServer, bodies: list[bytes], clients: int, seconds: float) -> dict[str, Any]:
    """One client count: warm-up, then the measured window."""
    asyncio.run(closed_loop(server.base_url, bodies, clients, min(1.0, seconds)))
    pid = server.process.pid
    calls_before, images_before = model_calls(server)
    cpu_before, wall_before = process_cpu_s(pid), time.perf_counter()
    answered, latencies, errors = asyncio.run(
        closed_loop(server.base_url, bodies, clients, seconds)
    )
    wall = time.perf_counter() - wall_before
    cpu = process_cpu_s(pid) - cpu_before
    calls_after, images_after = model_calls(server)
    return {
        "clients": clients,
        "images": answered,
        "errors": errors,
        "img_per_s": answered / wall,
        "server_cpu_ms_per_image": cpu * 1e3 / max(answered, 1),
        "server_cpu_cores": cpu / wall,
        # Micro-batching: images per model call over the window.
        "mean_model_batch": (images_after - images_before) / max(calls_after - calls_before, 1),
        **(latency_summary(latencies) if latencies else {}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", default="1,4,16", help="comma-separated client counts")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window per count")
    parser.add_argument(
        "--setting", action="append", default=[], help="FACEMESH_NAME=value for the gateway"
    )
    parser.add_argument("--report", type=Path, default=REPORT, help="JSON report path")
    args = parser.parse_args()
    counts = [int(each) for each in args.clients.split(",")]
    settings = dict(each.split("=", 1) for each in args.setting)
    # Every OpenVINO bucket compiled at start-up, not during a measured window.
    settings.setdefault("FACEMESH_OPENVINO_EAGER_COMPILE", "true")
    bodies = [path.read_bytes() for path in CROPS]

    quiet = QuietCheck().start()
    print(f"{len(bodies)} PNG crops 192x192; gateway settings {settings or 'defaults'}")
    worker = OracleWorker([str(WORKERS / "mediapipe_worker.py"), *map(str, CROPS)])
    rows, mediapipe_cpu = [], []
    try:
        with tempfile.TemporaryDirectory() as log_dir:
            server = start_server(settings, Path(log_dir))
            try:
                for clients in counts:
                    mediapipe_cpu += worker.ask("round")["cpu"]  # same load as this level
                    rows.append(level(server, bodies, clients, args.seconds))
            finally:
                server.stop()
    finally:
        worker.close()
    quiet.stop()

    mp_mean = statistics.fmean(mediapipe_cpu)
    mp_median = statistics.median(mediapipe_cpu)
    print(
        f"\nMediaPipe FaceLandmarkCpu in process: {mp_mean:.3f} ms CPU per crop (mean), "
        f"{mp_median:.3f} ms (median), over {len(mediapipe_cpu)} crops\n"
    )
    print(
        f"{'clients':>7s} {'img/s':>8s} {'CPU ms/img':>10s} {'x MediaPipe':>11s} "
        f"{'p50 ms':>8s} {'p99 ms':>8s} {'batch':>6s} {'errors':>6s}"
    )
    for row in rows:
        row["server_cpu_over_mediapipe_cpu"] = row["server_cpu_ms_per_image"] / mp_mean
        print(
            f"{row['clients']:7d} {row['img_per_s']:8.1f} {row['server_cpu_ms_per_image']:10.3f} "
            f"{row['server_cpu_over_mediapipe_cpu']:11.2f} {row['p50_ms'] or 0:8.2f} "
            f"{row.get('p99_ms', 0):8.2f} {row['mean_model_batch']:6.2f} {row['errors']:6d}"
        )
    print("(target at 16 clients: server CPU per image <= 1.3x MediaPipe's CPU per crop)")
    write_report(
        args.report,
        {
            "settings": settings,
            "seconds_per_level": args.seconds,
            "mediapipe_cpu_ms_per_crop": {"mean": mp_mean, "median": mp_median},
            "levels": rows,
        },
        quiet,
    )


if __name__ == "__main__":
    main()
