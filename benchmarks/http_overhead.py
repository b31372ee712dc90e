"""HTTP overhead of the gateway: end-to-end /v1/crops vs the raw model, in the same run.

1. Raw model: the embedded backend (same class and settings as the server) runs
   the same batch of preprocessed 192x192 crops sequentially.
2. Gateway: ``python -m service`` is started on a free local port; ``--concurrency`` clients
   post the same crops (JPEG by default, as client apps send them; ``--format png`` for the
   stored PNGs) as multipart batches to ``/v1/crops`` back to back; then one client alone.

The phases alternate for ``--rounds`` rounds so that background load on a shared machine
affects both sides alike.

Printed and written to ``--report`` (JSON): per-request latency percentiles, images/s and CPU
time per image for both, and three overhead ratios (target <= 1.3):

- throughput: raw images/s / HTTP images/s (concurrent clients);
- latency: HTTP p50 / raw p50 (one client);
- CPU: the server process's CPU time per image / the raw model's CPU time per image. Wall-clock
  ratios on a machine shared with other work swing with its load; CPU time much less so.

Run with the venv's Python from the repo root, after ``make model``::

    .venv/bin/python -m benchmarks.http_overhead --batch 8 --concurrency 4 --format jpeg

Client and server share the machine's cores; the client keeps its work small (pre-encoded
bodies, full JSON validation of one response per client, status checks for the rest).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.harness import (  # noqa: E402
    REPORTS,
    QuietCheck,
    latency_summary,
    process_cpu_s,
    write_report,
)
from service.core.config import Settings  # noqa: E402
from service.inference.embedded import EmbeddedBackend  # noqa: E402
from service.inference.runtime import RuntimeOptions  # noqa: E402
from service.processing.decode import decode_image  # noqa: E402
from service.processing.preprocess import preprocess  # noqa: E402
from tools.servers.gateway import start_server  # noqa: E402

CROPS = REPO / "tests" / "data" / "crops"
MODEL = REPO / "model_repository" / "facemesh" / "1" / "model.onnx"


@dataclass
class Round:
    latencies: list[float]
    wall_s: float
    images: int
    cpu_s: float  # CPU time of the process doing the work (server, or this one for raw calls)


def raw_round(
    backend: EmbeddedBackend, images: np.ndarray, iterations: int, parallel: int = 1
) -> Round:
    """Model calls on the preprocessed batch from ``parallel`` threads (as the server's
    inference executor with ``FACEMESH_INFERENCE_CONCURRENCY=parallel`` makes them)."""
    latencies: list[float] = []

    def worker(calls: int) -> None:
        for _ in range(calls):
            t0 = time.perf_counter()
            backend.infer(images)
            latencies.append(time.perf_counter() - t0)

    shares = [iterations // parallel + (i < iterations % parallel) for i in range(parallel)]
    threads = [threading.Thread(target=worker, args=(n,)) for n in shares]
    cpu = time.process_time()
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    return Round(latencies, wall, len(images) * iterations, time.process_time() - cpu)


def summarise(rounds: list[Round]) -> dict[str, Any]:
    latencies = [x for r in rounds for x in r.latencies]
    return {
        **latency_summary(latencies),
        "images_per_s": sum(r.images for r in rounds) / sum(r.wall_s for r in rounds),
        "cpu_ms_per_image": 1000 * sum(r.cpu_s for r in rounds) / sum(r.images for r in rounds),
    }


def check_body(body: dict[str, Any], batch: int) -> None:
    faces = body["faces"]
    if len(faces) != batch or any(
        f["landmarks"] is None or len(f["landmarks"]) != 478 for f in faces
    ):
        raise RuntimeError(f"unexpected response body: {str(body)[:200]}")


async def http_round(
    base_url: str,
    payloads: list[bytes],
    requests: int,
    concurrency: int,
    warmup: int,
    server_pid: int,
) -> Round:
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
        cpu = process_cpu_s(server_pid)
        start = time.perf_counter()
        await asyncio.gather(*(client_loop(client, True) for _ in range(concurrency)))
        wall = time.perf_counter() - start
        cpu = process_cpu_s(server_pid) - cpu
    return Round(latencies, wall, len(payloads) * requests, cpu)


def load_payloads(batch: int, fmt: str) -> list[bytes]:
    """``batch`` distinct upright crops, as stored (PNG) or re-encoded as JPEG quality 90."""
    files = sorted(p for p in CROPS.glob("*.png") if "_rot" not in p.name)
    payloads = []
    for i in range(batch):
        data = files[i % len(files)].read_bytes()
        if fmt == "jpeg":
            buffer = io.BytesIO()
            Image.open(io.BytesIO(data)).convert("RGB").save(buffer, "JPEG", quality=90)
            data = buffer.getvalue()
        payloads.append(data)
    return payloads


def server_stage_means(base_url: str) -> dict[str, float]:
    """Mean ms per request of each server stage (and of the whole HTTP exchange), from the
    server's own Prometheus histograms, warm-up requests included."""
    text = httpx.get(f"{base_url}/metrics/", timeout=30).text
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = sample.labels.get("stage") or (
                "http" if sample.labels.get("endpoint") == "/v1/crops" else None
            )
            if key is None or not family.name.endswith("_seconds"):
                continue
            if sample.name.endswith("_sum"):
                sums[key] = sample.value
            elif sample.name.endswith("_count"):
                counts[key] = sample.value
    return {k: 1000 * sums[k] / counts[k] for k in sums if counts.get(k)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=8, help="crops per /v1/crops request")
    parser.add_argument("--concurrency", type=int, default=4, help="concurrent HTTP clients")
    parser.add_argument("--format", choices=["jpeg", "png"], default="jpeg", help="crop encoding")
    parser.add_argument("--rounds", type=int, default=5, help="alternating raw/HTTP rounds")
    parser.add_argument("--requests", type=int, default=16, help="HTTP requests per round")
    parser.add_argument("--iterations", type=int, default=16, help="raw model calls per round")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="threads per model call")
    parser.add_argument(
        "--runtime", choices=("openvino", "onnxruntime"), default=Settings().runtime
    )
    parser.add_argument(
        "--inference-concurrency",
        type=int,
        default=1,
        help="model calls at once, in the server and in the raw baseline",
    )
    parser.add_argument("--report", type=Path, default=REPORTS / "http_overhead.json")
    args = parser.parse_args()
    if not MODEL.is_file():
        raise SystemExit(f"{MODEL} missing: run `make model` first")

    payloads = load_payloads(args.batch, args.format)
    # Same backend class and settings as the server's (Settings defaults, CPU).
    backend = EmbeddedBackend.open(
        MODEL,
        RuntimeOptions(runtime=args.runtime, device="cpu", threads=args.threads, eager=True),
    )
    images = np.stack(
        [preprocess(decode_image(p, min_side=32, max_pixels=16_000_000))[0] for p in payloads]
    )
    raw_round(backend, images, args.warmup)
    server = start_server(
        {
            "FACEMESH_DEVICE": "cpu",
            "FACEMESH_INTRA_OP_THREADS": str(args.threads),
            "FACEMESH_INFERENCE_CONCURRENCY": str(args.inference_concurrency),
        },
        Path(tempfile.mkdtemp(prefix="http-overhead-")),
    )
    base_url = server.base_url
    raw: list[Round] = []
    concurrent: list[Round] = []
    single: list[Round] = []
    try:
        with QuietCheck() as quiet:
            # Alternate the phases so that background load on a shared machine hits all alike.
            for _ in range(args.rounds):
                raw.append(raw_round(backend, images, args.iterations, args.inference_concurrency))
                concurrent.append(
                    asyncio.run(
                        http_round(
                            base_url,
                            payloads,
                            args.requests,
                            args.concurrency,
                            args.warmup,
                            server.process.pid,
                        )
                    )
                )
                single.append(
                    asyncio.run(
                        http_round(
                            base_url,
                            payloads,
                            args.requests // 2,
                            1,
                            args.warmup,
                            server.process.pid,
                        )
                    )
                )
        stages = server_stage_means(base_url)
    finally:
        server.stop()

    raw_s, conc_s, single_s = summarise(raw), summarise(concurrent), summarise(single)
    throughput_ratio = raw_s["images_per_s"] / conc_s["images_per_s"]
    latency_ratio = single_s["p50_ms"] / raw_s["p50_ms"]
    cpu_ratio = conc_s["cpu_ms_per_image"] / raw_s["cpu_ms_per_image"]
    report = {
        "batch": args.batch,
        "format": args.format,
        "concurrency": args.concurrency,
        "intra_op_threads": args.threads,
        "inference_concurrency": args.inference_concurrency,
        "rounds": args.rounds,
        "raw_model": raw_s,
        "http_concurrent": conc_s,
        "http_single_client": single_s,
        "server_stage_mean_ms": stages,
        "overhead_ratio_throughput": throughput_ratio,
        "overhead_ratio_latency_p50": latency_ratio,
        "overhead_ratio_cpu": cpu_ratio,
        "target": 1.3,
    }
    write_report(args.report, report, quiet)

    print(
        f"batch {args.batch} {args.format} crops, {os.cpu_count()} CPUs, {args.rounds} rounds, "
        f"intra-op threads {args.threads or 'default'}, "
        f"inference concurrency {args.inference_concurrency}"
    )
    for label, summary in (
        ("raw model      ", raw_s),
        (f"HTTP x{args.concurrency} clients", conc_s),
        ("HTTP x1 client ", single_s),
    ):
        print(
            f"{label}: p50 {summary['p50_ms']:7.1f} ms  p90 {summary['p90_ms']:7.1f} ms  "
            f"{summary['images_per_s']:7.1f} images/s  ({summary['calls']:.0f} calls)"
        )
    print(f"overhead ratio, throughput (raw / HTTP x{args.concurrency}): {throughput_ratio:.3f}")
    print(
        "server stage means (ms/request): " + ", ".join(f"{k} {v:.1f}" for k, v in stages.items())
    )
    print(f"overhead ratio, latency p50 (HTTP x1 / raw): {latency_ratio:.3f}")
    print(
        f"overhead ratio, CPU per image (server process / raw model): {cpu_ratio:.3f} "
        f"({conc_s['cpu_ms_per_image']:.2f} / {raw_s['cpu_ms_per_image']:.2f} ms)"
    )
    print("target <= 1.3")


if __name__ == "__main__":
    main()
