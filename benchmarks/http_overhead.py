"""HTTP overhead of the gateway: end-to-end /v1/crops vs the raw model, in the same run.

1. Raw model: the embedded ONNX Runtime backend (same class and settings as the server) runs
   the same batch of preprocessed 192x192 crops sequentially.
2. Gateway: ``python -m service`` is started on a free local port; ``--concurrency`` clients
   post the same crops as PNG multipart batches to ``/v1/crops`` back to back.

Printed and written to ``--report`` (JSON): per-request latency percentiles and images/s for
both, and the overhead ratios ``raw images/s / HTTP images/s`` (concurrent clients) and
``HTTP p50 / raw p50`` (one client). Target: <= 1.3.

Run with the venv's Python from the repo root, after ``make model``::

    .venv/bin/python -m benchmarks.http_overhead --batch 8 --concurrency 4 --requests 80

Client and server share the machine's cores; the client keeps its work small (pre-encoded
bodies, full JSON validation of one response per client, status checks for the rest).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from service.inference.onnxruntime_backend import OnnxRuntimeBackend  # noqa: E402
from service.processing.decode import decode_image  # noqa: E402
from service.processing.preprocess import preprocess  # noqa: E402

CROPS = REPO / "tests" / "data" / "crops"
MODEL = REPO / "model_repository" / "facemesh" / "1" / "model.onnx"


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = np.asarray(sorted(samples)) * 1000.0
    return {
        "mean_ms": float(ordered.mean()),
        "p50_ms": float(np.percentile(ordered, 50)),
        "p90_ms": float(np.percentile(ordered, 90)),
        "p99_ms": float(np.percentile(ordered, 99)),
    }


def load_payloads(batch: int) -> list[bytes]:
    files = sorted(p for p in CROPS.glob("*.png") if "_rot" not in p.name)
    return [files[i % len(files)].read_bytes() for i in range(batch)]


def bench_raw(payloads: list[bytes], iterations: int, warmup: int, threads: int) -> dict[str, Any]:
    backend = OnnxRuntimeBackend(MODEL, device="cpu", intra_op_threads=threads)
    images = np.stack(
        [preprocess(decode_image(p, min_side=32, max_pixels=16_000_000))[0] for p in payloads]
    )
    for _ in range(warmup):
        backend.infer(images)
    latencies = []
    start = time.perf_counter()
    for _ in range(iterations):
        t0 = time.perf_counter()
        backend.infer(images)
        latencies.append(time.perf_counter() - t0)
    wall = time.perf_counter() - start
    backend.close()
    return {
        **percentiles(latencies),
        "calls": iterations,
        "images_per_s": len(payloads) * iterations / wall,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(port: int, threads: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "FACEMESH_HOST": "127.0.0.1",
        "FACEMESH_PORT": str(port),
        "FACEMESH_LOG_LEVEL": "warning",
        "FACEMESH_ACCESS_LOG": "false",
        "FACEMESH_DEVICE": "cpu",
        "FACEMESH_INTRA_OP_THREADS": str(threads),
    }
    process = subprocess.Popen([sys.executable, "-m", "service"], cwd=REPO, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("server exited during start-up")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("server not ready within 120 s")


def check_body(body: dict[str, Any], batch: int) -> None:
    faces = body["faces"]
    if len(faces) != batch or any(
        f["landmarks"] is None or len(f["landmarks"]) != 478 for f in faces
    ):
        raise RuntimeError(f"unexpected response body: {str(body)[:200]}")


async def bench_http(
    base_url: str, payloads: list[bytes], requests: int, concurrency: int, warmup: int
) -> dict[str, Any]:
    files = [("image", (f"{i}.png", data, "image/png")) for i, data in enumerate(payloads)]
    # Encode the multipart body once; every request sends the same bytes.
    template = httpx.Request("POST", f"{base_url}/v1/crops", files=files)
    body = template.read()
    headers = {"Content-Type": template.headers["Content-Type"]}
    latencies: list[float] = []
    remaining = requests

    async def client_loop(client: httpx.AsyncClient, record: bool) -> None:
        nonlocal remaining
        checked = False
        while remaining > 0:
            remaining -= 1
            t0 = time.perf_counter()
            response = await client.post("/v1/crops", content=body, headers=headers)
            elapsed = time.perf_counter() - t0
            if response.status_code != 200:
                raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
            if not checked:
                check_body(response.json(), len(payloads))
                checked = True
            if record:
                latencies.append(elapsed)

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits) as client:
        remaining = warmup * concurrency
        await asyncio.gather(*(client_loop(client, False) for _ in range(concurrency)))
        remaining = requests
        start = time.perf_counter()
        await asyncio.gather(*(client_loop(client, True) for _ in range(concurrency)))
        wall = time.perf_counter() - start
    return {
        **percentiles(latencies),
        "requests": requests,
        "concurrency": concurrency,
        "images_per_s": len(payloads) * requests / wall,
        "body_bytes": len(body),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=8, help="crops per /v1/crops request")
    parser.add_argument("--concurrency", type=int, default=4, help="concurrent HTTP clients")
    parser.add_argument("--requests", type=int, default=80, help="timed HTTP requests")
    parser.add_argument("--iterations", type=int, default=40, help="timed raw model calls")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="onnxruntime intra-op threads")
    parser.add_argument(
        "--report", type=Path, default=REPO / "benchmarks/reports/http_overhead.json"
    )
    args = parser.parse_args()
    if not MODEL.is_file():
        raise SystemExit(f"{MODEL} missing: run `make model` first")

    payloads = load_payloads(args.batch)
    raw = bench_raw(payloads, args.iterations, args.warmup, args.threads)
    port = free_port()
    server = start_server(port, args.threads)
    try:
        base_url = f"http://127.0.0.1:{port}"
        concurrent = asyncio.run(
            bench_http(base_url, payloads, args.requests, args.concurrency, args.warmup)
        )
        single = asyncio.run(
            bench_http(base_url, payloads, max(args.requests // 2, 10), 1, args.warmup)
        )
    finally:
        server.terminate()
        server.wait(timeout=30)

    throughput_ratio = raw["images_per_s"] / concurrent["images_per_s"]
    latency_ratio = single["p50_ms"] / raw["p50_ms"]
    report = {
        "batch": args.batch,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "raw_model": raw,
        "http_concurrent": concurrent,
        "http_single_client": single,
        "overhead_ratio_throughput": throughput_ratio,
        "overhead_ratio_latency_p50": latency_ratio,
        "target": 1.3,
    }
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(report, indent=2) + "\n")

    print(f"batch {args.batch} crops, {os.cpu_count()} CPUs")
    print(
        f"raw model       : p50 {raw['p50_ms']:7.1f} ms/call  {raw['images_per_s']:7.1f} images/s"
    )
    print(
        f"HTTP x{args.concurrency} clients : p50 {concurrent['p50_ms']:7.1f} ms/req   "
        f"p99 {concurrent['p99_ms']:7.1f} ms  {concurrent['images_per_s']:7.1f} images/s"
    )
    print(
        f"HTTP x1 client  : p50 {single['p50_ms']:7.1f} ms/req   "
        f"p99 {single['p99_ms']:7.1f} ms  {single['images_per_s']:7.1f} images/s"
    )
    print(
        f"overhead ratio (raw images/s / HTTP images/s, x{args.concurrency}): "
        f"{throughput_ratio:.3f}"
    )
    print(f"overhead ratio (HTTP p50 / raw p50, one client)        : {latency_ratio:.3f}")
    print(f"target <= 1.3; report: {args.report}")


if __name__ == "__main__":
    main()
