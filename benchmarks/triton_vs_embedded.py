"""Gateway -> Triton vs the embedded backend (in process): throughput and latency, same run.

    .venv/bin/python -m benchmarks.triton_vs_embedded [--clients 16] [--requests 24] [--rounds 3]
        [--queue-delays 0,100,500,2000]

Needs ``make model`` and ``make triton-venv``. Starts a local ``tritonserver`` (the
nvidia-pytriton build: Python backend running the same ``model.onnx`` with ONNX Runtime on
CPU, see tools/servers/triton.py) and two gateways (``python -m service``) on free local
ports: one on the embedded backend (default settings), one on the Triton backend (gRPC,
``FACEMESH_INFERENCE_CONCURRENCY=16`` so that Triton sees concurrent calls to batch).

1. Backend level (no HTTP): ``--clients`` threads call ``infer`` on one crop each, closed loop,
   ``TritonBackend`` vs ``EmbeddedBackend`` (ONNX Runtime): faces/s, p50/p99 per call.
2. End to end: ``--clients`` HTTP clients post single crops (PNG) to ``/v1/crop`` on each
   gateway, closed loop. The two sides alternate for ``--rounds`` rounds so background load on
   a shared machine hits both alike.
3. Queue-delay sweep: Triton restarted with each ``max_queue_delay_microseconds`` in
   ``--queue-delays``; step 1's Triton side again, with Triton's average executed batch size.

Everything shares one machine's cores (clients, gateways, Triton), which penalises the
two-process path; on a GPU host the model's time moves to the GPU and the picture changes.
Prints the ratios; writes benchmarks/reports/triton_vs_embedded.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.harness import (  # noqa: E402
    REPORTS,
    QuietCheck,
    interleaved,
    latency_summary,
    write_report,
)
from service.inference.embedded import EmbeddedBackend  # noqa: E402
from service.inference.runtime import RuntimeOptions  # noqa: E402
from service.inference.triton import TritonBackend  # noqa: E402
from tools.servers.gateway import LiveServer, start_server  # noqa: E402
from tools.servers.triton import MODEL_ONNX, LocalTriton  # noqa: E402

CROPS = sorted((REPO / "tests" / "data" / "crops").glob("*.png"))
REPORT = REPORTS / "triton_vs_embedded.json"
TRITON_CONCURRENCY = 16


def summary(latencies: list[float], wall_s: float) -> dict[str, float]:
    return {**latency_summary(latencies), "faces_per_s": len(latencies) / wall_s}


def closed_loop(call: Callable[[int], None], clients: int, requests: int) -> dict[str, float]:
    """``clients`` threads each make ``requests`` calls back to back; per-call latencies."""
    latencies: list[float] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        mine = []
        try:
            for step in range(requests):
                start = time.perf_counter()
                call(index * requests + step)
                mine.append(time.perf_counter() - start)
        except BaseException as exc:  # reported after the run
            errors.append(exc)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"{len(errors)} clients failed, first: {errors[0]!r}")
    return summary(latencies, wall)


def merge_rounds(rounds: list[dict[str, float]]) -> dict[str, float]:
    return {
        key: float(np.median([r[key] for r in rounds]))
        for key in ("faces_per_s", "p50_ms", "p99_ms", "mean_ms")
    } | {"calls": sum(int(r["calls"]) for r in rounds), "rounds": len(rounds)}


def batch_stats(server: LocalTriton) -> tuple[int, int]:
    stats = server.statistics()
    return int(stats["inference_count"]), int(stats["execution_count"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=24, help="per client per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--queue-delays", default="0,100,500,2000", help="microseconds, or ''")
    parser.add_argument("--report", type=Path, default=REPORT)
    args = parser.parse_args()
    if not MODEL_ONNX.is_file():
        sys.exit(f"{MODEL_ONNX} missing: run `make model`")

    crops = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in CROPS])
    bodies = [p.read_bytes() for p in CROPS]
    workdir = Path(tempfile.mkdtemp(prefix="triton-bench-"))
    triton = LocalTriton(workdir / "triton")
    triton.start()
    gateways: list[LiveServer] = []
    quiet = QuietCheck().start()
    report: dict[str, Any] = {
        "gpu": None,
        "triton": "tritonserver 2.51 (nvidia-pytriton 0.7.0), Python backend + ONNX Runtime CPU",
        "clients": args.clients,
        "requests_per_client_per_round": args.requests,
    }
    try:
        embedded = EmbeddedBackend.open(
            MODEL_ONNX, RuntimeOptions(runtime="onnxruntime", device="cpu")
        )
        remote = TritonBackend(triton.grpc_url, timeout_s=60.0)
        embedded.warm_up()
        remote.infer(crops[:1])

        def one_crop(backend: Any) -> Callable[[int], None]:
            return lambda i: backend.infer(crops[i % len(crops) : i % len(crops) + 1])

        backend_rounds = interleaved(
            args.rounds,
            {
                name: lambda backend=backend: closed_loop(
                    one_crop(backend), args.clients, args.requests
                )
                for name, backend in (("embedded", embedded), ("triton", remote))
            },
        )
        report["backend_level"] = {k: merge_rounds(v) for k, v in backend_rounds.items()}

        gateways.append(start_server({}, workdir))
        embedded_url = gateways[-1].base_url
        gateways.append(
            start_server(
                {
                    "FACEMESH_BACKEND": "triton",
                    "FACEMESH_TRITON_URL": triton.grpc_url,
                    "FACEMESH_INFERENCE_CONCURRENCY": str(TRITON_CONCURRENCY),
                },
                workdir,
            )
        )
        triton_url = gateways[-1].base_url
        local = threading.local()

        def post_to(url: str) -> Callable[[int], None]:
            def call(i: int) -> None:
                client = getattr(local, url, None)
                if client is None:
                    client = httpx.Client(base_url=url, timeout=120)
                    setattr(local, url, client)
                response = client.post(
                    "/v1/crop",
                    content=bodies[i % len(bodies)],
                    headers={"content-type": "image/png"},
                )
                if response.status_code != 200:
                    raise RuntimeError(f"{url}: HTTP {response.status_code} {response.text}")

            return call

        before = batch_stats(triton)
        http_rounds = interleaved(
            args.rounds,
            {
                name: lambda url=url: closed_loop(post_to(url), args.clients, args.requests)
                for name, url in (("embedded", embedded_url), ("triton", triton_url))
            },
        )
        after = batch_stats(triton)
        report["end_to_end"] = {k: merge_rounds(v) for k, v in http_rounds.items()}
        report["end_to_end"]["triton"]["average_triton_batch"] = (after[0] - before[0]) / max(
            1, after[1] - before[1]
        )

        sweep = []
        for delay in [int(d) for d in args.queue_delays.split(",") if d.strip()]:
            remote.close()
            triton.stop()
            triton = LocalTriton(workdir / f"triton-{delay}", max_queue_delay_us=delay)
            triton.start()
            remote = TritonBackend(triton.grpc_url, timeout_s=60.0)
            remote.infer(crops[:1])
            before = batch_stats(triton)
            result = closed_loop(one_crop(remote), args.clients, args.requests * args.rounds)
            after = batch_stats(triton)
            result["average_batch"] = (after[0] - before[0]) / max(1, after[1] - before[1])
            sweep.append({"max_queue_delay_us": delay, **result})
        report["queue_delay_sweep_backend_level"] = sweep
        remote.close()
    finally:
        for gateway in gateways:
            gateway.stop()
        triton.stop()
        quiet.stop()

    for level in ("backend_level", "end_to_end"):
        emb, tri = report[level]["embedded"], report[level]["triton"]
        report[level]["ratio_triton_over_embedded"] = {
            "throughput": tri["faces_per_s"] / emb["faces_per_s"],
            "p50": tri["p50_ms"] / emb["p50_ms"],
            "p99": tri["p99_ms"] / emb["p99_ms"],
        }
    write_report(args.report, report, quiet)

    print(
        f"{args.clients} concurrent clients, one crop per call, CPU only ({os.cpu_count()} cores)"
    )
    for level in ("backend_level", "end_to_end"):
        print(f"\n{level}:")
        for name in ("embedded", "triton"):
            r = report[level][name]
            print(
                f"  {name:9s} {r['faces_per_s']:7.1f} faces/s  p50 {r['p50_ms']:7.1f} ms"
                f"  p99 {r['p99_ms']:7.1f} ms"
            )
        ratio = report[level]["ratio_triton_over_embedded"]
        print(
            f"  triton/embedded: throughput x{ratio['throughput']:.2f}, p50 x{ratio['p50']:.2f},"
            f" p99 x{ratio['p99']:.2f}"
        )
    average = report["end_to_end"]["triton"]["average_triton_batch"]
    print(f"  average Triton batch (end to end): {average:.2f}")
    if sweep:
        print("\nqueue delay sweep (Triton, backend level):")
        for row in sweep:
            print(
                f"  {row['max_queue_delay_us']:5d} us: {row['faces_per_s']:7.1f} faces/s"
                f"  p50 {row['p50_ms']:6.1f} ms  p99 {row['p99_ms']:6.1f} ms"
                f"  avg batch {row['average_batch']:.2f}"
            )


if __name__ == "__main__":
    main()
