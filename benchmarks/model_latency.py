"""ONNX Runtime (CPU) vs MediaPipe's FaceLandmarkCpu on the same crops, in one run.

    .venv/bin/python -m benchmarks.model_latency [--rounds 8]

Batch-1 latency: MediaPipe (a worker process in the oracle virtualenv, created under .cache/
on first use) and ONNX Runtime (1 and 2 intra-op threads) run in alternating rounds over the
same 42 crops, so machine load hits all of them alike. Wall time and process CPU time are both
recorded: on a busy machine the CPU-time ratio is the steadier comparison. Then ONNX Runtime's
batched throughput (batch 1, 8, 32; 1 and 2 threads) and a per-op profile. Prints the ratios; writes
benchmarks/reports/model_latency.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

from tools.oracle.oracle_env import REPO, WORKERS, OracleWorker

MODEL = REPO / "model_repository" / "facemesh" / "1" / "model.onnx"
CROPS = sorted((REPO / "tests" / "data" / "crops").glob("*.png"))
REPORT = REPO / "benchmarks" / "reports" / "model_latency.json"


def session(threads: int, profile: bool = False) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.enable_profiling = profile
    if profile:
        options.profile_file_prefix = str(Path(tempfile.mkdtemp()) / "ort")
    return ort.InferenceSession(str(MODEL), options, providers=["CPUExecutionProvider"])


def timed_calls(
    sess: ort.InferenceSession, batches: list[np.ndarray], cpu: list[float] | None = None
) -> list[float]:
    """Wall milliseconds per call; process CPU milliseconds appended to ``cpu`` if given."""
    times = []
    for item in batches:
        start, start_cpu = time.perf_counter(), time.process_time()
        sess.run(None, {"image": item})
        times.append((time.perf_counter() - start) * 1e3)
        if cpu is not None:
            cpu.append((time.process_time() - start_cpu) * 1e3)
    return times


def op_profile(images: np.ndarray) -> list[tuple[str, float]]:
    """Share of ONNX Runtime kernel time per op type (batch 1, 1 thread)."""
    sess = session(1, profile=True)
    for image in images[:20]:
        sess.run(None, {"image": image[None]})
    trace = json.loads(Path(sess.end_profiling()).read_text())
    per_op: dict[str, float] = defaultdict(float)
    for event in trace:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            per_op[event["args"]["op_name"]] += event["dur"]
    total = sum(per_op.values())
    return sorted(((op, dur / total) for op, dur in per_op.items()), key=lambda x: -x[1])


def summary(times: list[float], batch: int) -> dict[str, float]:
    median = statistics.median(times)
    return {
        "median_ms": median,
        "p90_ms": float(np.percentile(times, 90)),
        "faces_per_s": batch * 1e3 / median,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()
    images = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in CROPS])
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, onnxruntime {ort.__version__}"
    print(f"{len(images)} crops, {MODEL.relative_to(REPO)}, {machine}")

    singles = [image[None] for image in images]
    sessions = {threads: session(threads) for threads in (1, 2)}
    for sess in sessions.values():
        timed_calls(sess, singles[:5])  # warm-up
    # MediaPipe's FaceLandmarkCpu; each "round" answers {"wall": [...], "cpu": [...]} ms.
    worker = OracleWorker([str(WORKERS / "mediapipe_worker.py"), *map(str, CROPS)])
    latency: dict[str, list[float]] = {"mediapipe": [], "ort_t1_b1": [], "ort_t2_b1": []}
    cpu: dict[str, list[float]] = {key: [] for key in latency}
    try:
        for _ in range(args.rounds):  # interleaved: same load for every contender
            mp_round = worker.ask("round")
            latency["mediapipe"] += mp_round["wall"]
            cpu["mediapipe"] += mp_round["cpu"]
            for threads in (1, 2):
                key = f"ort_t{threads}_b1"
                latency[key] += timed_calls(sessions[threads], singles, cpu[key])
    finally:
        worker.close()

    results = {key: summary(times, 1) for key, times in latency.items()}
    for key, times in cpu.items():
        results[key]["cpu_median_ms"] = statistics.median(times)
    for threads, sess in sessions.items():
        for batch in (8, 32):
            batches = [images[i : i + batch] for i in range(0, len(images) - batch + 1, batch)]
            timed_calls(sess, batches[:1])
            times = [t for _ in range(max(2, args.rounds // 2)) for t in timed_calls(sess, batches)]
            results[f"ort_t{threads}_b{batch}"] = summary(times, batch)

    labels = {"mediapipe": "MediaPipe FaceLandmarkCpu (XNNPACK, per crop)"}
    print("(batch-1 rows: wall medians; CPU-time medians are in the ratio lines)")
    print(f"\n{'pipeline':48s} {'median ms/call':>14s} {'p90':>8s} {'faces/s':>9s}")
    for key, row in results.items():
        name = labels.get(key) or (
            f"ONNX Runtime {key.split('_')[1][1:]} thread(s), batch {key.split('_')[2][1:]}"
        )
        print(f"{name:48s} {row['median_ms']:14.3f} {row['p90_ms']:8.3f} {row['faces_per_s']:9.1f}")

    mp_ms = results["mediapipe"]["median_ms"]
    ratios = {
        "ort_t1_b1_over_mediapipe_latency": results["ort_t1_b1"]["median_ms"] / mp_ms,
        "ort_t1_b1_over_mediapipe_cpu_time": results["ort_t1_b1"]["cpu_median_ms"]
        / results["mediapipe"]["cpu_median_ms"],
        "ort_t2_b1_over_mediapipe_latency": results["ort_t2_b1"]["median_ms"] / mp_ms,
        "ort_t2_b32_over_mediapipe_throughput": results["ort_t2_b32"]["faces_per_s"]
        / results["mediapipe"]["faces_per_s"],
    }
    print(
        f"\nratio ONNX Runtime batch-1, 1 thread / MediaPipe per crop: "
        f"{ratios['ort_t1_b1_over_mediapipe_latency']:.3f}  (target <= 0.8)"
    )
    print(
        f"same, in process CPU time per crop (steadier under load): "
        f"{ratios['ort_t1_b1_over_mediapipe_cpu_time']:.3f}  "
        f"(MediaPipe {results['mediapipe']['cpu_median_ms']:.2f} ms, "
        f"ONNX Runtime {results['ort_t1_b1']['cpu_median_ms']:.2f} ms)"
    )
    print(
        f"ratio ONNX Runtime batch-1, 2 threads / MediaPipe per crop: "
        f"{ratios['ort_t2_b1_over_mediapipe_latency']:.3f}"
    )
    print(
        f"throughput ONNX Runtime batch 32, 2 threads / MediaPipe: "
        f"{ratios['ort_t2_b32_over_mediapipe_throughput']:.2f}x"
    )

    profile = op_profile(images)
    print("\nONNX Runtime profile (batch 1, 1 thread), share of kernel time:")
    for op, share in profile[:8]:
        print(f"  {op:14s} {share * 100:5.1f} %")

    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(
        json.dumps(
            {
                "machine": machine,
                "rounds": args.rounds,
                "results": results,
                "ratios": ratios,
                "profile_share": dict(profile),
            },
            indent=2,
        )
    )
    print(f"\nreport: {REPORT.relative_to(REPO)}")


if __name__ == "__main__":
    main()
