"""ONNX Runtime and OpenVINO (CPU) vs MediaPipe's FaceLandmarkCpu on the same crops, in one run.

    .venv/bin/python -m benchmarks.model_latency [--rounds 8] [--stream-seconds 5]

Batch-1 latency: MediaPipe (a worker process in the oracle virtualenv, created under .cache/
on first use), ONNX Runtime (1 and 2 intra-op threads) and OpenVINO (the gateway's runtime,
``service.inference.runtime.OpenVinoRuntime``, 1 thread) run in alternating rounds over the
same 42 crops, so machine load hits all of them alike. Wall time and process CPU time are both
recorded: on a busy machine the CPU-time ratio is the steadier comparison. Then batched
throughput: ONNX Runtime (batch 8, 32; 1 and 2 threads) and OpenVINO with two streams of one
thread each, two calls in flight (each of the gateway's compiled batch sizes,
``Settings.openvino_batch_sizes``), and ONNX Runtime's
per-op profile. Prints the ratios; writes benchmarks/reports/model_latency.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

from benchmarks.harness import REPORTS, QuietCheck, write_report
from service.contract import ATTENTION_SPEC
from service.inference.runtime import OpenVinoRuntime, RuntimeOptions
from tools.oracle.oracle_env import REPO, WORKERS, OracleWorker

MODEL = REPO / "model_repository" / "facemesh" / "1" / "model.onnx"
CROPS = sorted((REPO / "tests" / "data" / "crops").glob("*.png"))
REPORT = REPORTS / "model_latency.json"


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


def openvino(streams: int) -> OpenVinoRuntime:
    """The gateway's OpenVINO runtime: f32, one thread per call, its batch sizes compiled."""
    options = RuntimeOptions(threads=1, streams=streams, eager=True)
    return OpenVinoRuntime(MODEL, ATTENTION_SPEC, options)


def timed_runs(
    runtime: OpenVinoRuntime, batches: list[np.ndarray], cpu: list[float] | None = None
) -> list[float]:
    """``timed_calls`` for a runtime of the gateway."""
    times = []
    for item in batches:
        start, start_cpu = time.perf_counter(), time.process_time()
        runtime.run(item)
        times.append((time.perf_counter() - start) * 1e3)
        if cpu is not None:
            cpu.append((time.process_time() - start_cpu) * 1e3)
    return times


def in_flight(runtime: OpenVinoRuntime, images: np.ndarray, batch: int, seconds: float) -> float:
    """Faces/s with two callers keeping one call each in flight (two streams)."""
    batches = [images[i : i + batch] for i in range(0, len(images) - batch + 1, batch)]
    done = [0, 0]
    stop = time.perf_counter() + seconds

    def caller(index: int) -> None:
        while time.perf_counter() < stop:
            for item in batches:
                runtime.run(item)
                done[index] += len(item)

    threads = [threading.Thread(target=caller, args=(index,)) for index in (0, 1)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done) / (time.perf_counter() - start)


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
    parser.add_argument(
        "--stream-seconds", type=float, default=5.0, help="per OpenVINO two-stream batch size"
    )
    parser.add_argument("--report", type=Path, default=REPORT, help="JSON report path")
    args = parser.parse_args()
    images = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in CROPS])
    import openvino as ov

    machine = (
        f"{platform.machine()}, {os.cpu_count()} CPUs, onnxruntime {ort.__version__}, "
        f"openvino {ov.__version__}"
    )
    quiet = QuietCheck().start()
    print(f"{len(images)} crops, {MODEL.relative_to(REPO)}, {machine}")

    singles = [image[None] for image in images]
    sessions = {threads: session(threads) for threads in (1, 2)}
    for sess in sessions.values():
        timed_calls(sess, singles[:5])  # warm-up
    ov_single = openvino(streams=1)
    timed_runs(ov_single, singles[:5])
    # MediaPipe's FaceLandmarkCpu; each "round" answers {"wall": [...], "cpu": [...]} ms.
    worker = OracleWorker([str(WORKERS / "mediapipe_worker.py"), *map(str, CROPS)])
    latency: dict[str, list[float]] = {
        "mediapipe": [],
        "ort_t1_b1": [],
        "ort_t2_b1": [],
        "ov_t1_b1": [],
    }
    cpu: dict[str, list[float]] = {key: [] for key in latency}
    try:
        for _ in range(args.rounds):  # interleaved: same load for every contender
            mp_round = worker.ask("round")
            latency["mediapipe"] += mp_round["wall"]
            cpu["mediapipe"] += mp_round["cpu"]
            for threads in (1, 2):
                key = f"ort_t{threads}_b1"
                latency[key] += timed_calls(sessions[threads], singles, cpu[key])
            latency["ov_t1_b1"] += timed_runs(ov_single, singles, cpu["ov_t1_b1"])
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
    ov_streams = openvino(streams=2)
    two_streams = {
        batch: in_flight(ov_streams, images, batch, args.stream_seconds)
        for batch in ov_streams.batch_sizes
    }

    labels = {
        "mediapipe": "MediaPipe FaceLandmarkCpu (XNNPACK, per crop)",
        "ov_t1_b1": "OpenVINO 1 thread, batch 1",
    }
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
        "ov_t1_b1_over_mediapipe_latency": results["ov_t1_b1"]["median_ms"] / mp_ms,
        "ov_t1_b1_over_mediapipe_cpu_time": results["ov_t1_b1"]["cpu_median_ms"]
        / results["mediapipe"]["cpu_median_ms"],
        "ov_two_streams_best_faces_per_s": max(two_streams.values()),
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

    print(
        f"ratio OpenVINO batch-1, 1 thread / MediaPipe per crop: "
        f"{ratios['ov_t1_b1_over_mediapipe_latency']:.3f}  (target <= 0.8); CPU time "
        f"{ratios['ov_t1_b1_over_mediapipe_cpu_time']:.3f}"
    )
    print(
        "OpenVINO, two streams x 1 thread, two calls in flight: "
        + ", ".join(f"batch {b} {fps:.0f} faces/s" for b, fps in two_streams.items())
        + f"  (best {max(two_streams.values()):.0f}; target >= 2000)"
    )

    profile = op_profile(images)
    print("\nONNX Runtime profile (batch 1, 1 thread), share of kernel time:")
    for op, share in profile[:8]:
        print(f"  {op:14s} {share * 100:5.1f} %")

    quiet.stop()
    write_report(
        args.report,
        {
            "rounds": args.rounds,
            "results": results,
            "openvino_two_streams_faces_per_s": two_streams,
            "ratios": ratios,
            "profile_share": dict(profile),
        },
        quiet,
    )


if __name__ == "__main__":
    main()
