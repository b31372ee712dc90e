"""Frames per second: our frame pipeline, static and tracking, vs MediaPipe FaceMesh, one run.

    .venv/bin/python -m benchmarks.frames [--rounds 5] [--threads 1] [--video-frames 100]

Four contenders on the same decoded RGB frames (decoding excluded from every timing):

- ours, static:    ``FramePipeline.process`` without state (what ``POST /v1/frame`` runs):
                   detector, ROIs, one landmark-model call per frame;
- ours, tracking:  the same with a ``TrackState`` (what a gRPC/WebSocket session runs): the
                   ROI comes from the previous frame's landmarks, the detector runs only
                   while no face is tracked;
- MediaPipe FaceMesh ``static_image_mode=True`` and ``static_image_mode=False`` (tracking),
  both ``refine_landmarks=True`` (the attention model, 478 landmarks), in a worker process
  in the oracle virtualenv (``tools/oracle/mediapipe_facemesh_worker.py``; created under
  ``.cache/`` on first use).

Two frame sets: ``video``, a synthetic clip (Lenna 512x512 shifted and turned a little more
each frame, as in the tracking test; one face, ``max_faces`` 1), and ``stills``, the golden
frames of ``tests/data/frames`` (0 to 3 faces, ``max_faces`` 16), static modes only. The
contenders run in interleaved rounds so machine load hits them alike; each tracking round
starts from an empty state. Wall time and process CPU time are both recorded: on a shared
machine the CPU-time ratios are the steadier ones. Our models run on ONNX Runtime with
``--threads`` intra-op threads (MediaPipe's CPU graphs run each model on one thread).

Prints frames/s and the ratios; writes ``benchmarks/reports/frames.json``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from benchmarks.harness import REPORTS, QuietCheck, interleaved, write_report
from service.core.config import Settings
from service.inference.detector import EmbeddedDetector
from service.inference.embedded import EmbeddedBackend
from service.inference.runtime import RuntimeOptions
from service.lifespan import standalone_frame_pipeline
from service.pipelines.frames import FramePipeline
from service.pipelines.results import TrackState
from service.processing.decode import decode_image
from tools.oracle.oracle_env import REPO, WORKERS, OracleWorker

MODEL = REPO / "model_repository" / "facemesh" / "1" / "model.onnx"
DETECTOR = REPO / "model_repository" / "face_detector" / "1" / "model.onnx"
FRAMES = REPO / "tests" / "data" / "frames"
REPORT = REPORTS / "frames.json"
MAX_FACES = {"video": 1, "stills": 16}
# (contender, frame set): the video in both modes, the stills in static mode only.
RUNS = (
    ("mediapipe", "static", "video"),
    ("ours", "static", "video"),
    ("mediapipe", "tracking", "video"),
    ("ours", "tracking", "video"),
    ("mediapipe", "static", "stills"),
    ("ours", "static", "stills"),
)


def decode(path: Path) -> np.ndarray:
    return decode_image(path.read_bytes(), min_side=1, max_pixels=10**8)


def synthetic_video(frames: int) -> list[np.ndarray]:
    """Lenna shifted by (0.6, 0.3) px and turned by 0.2 degrees more each frame."""
    base = decode(FRAMES / "lenna.png")
    height, width = base.shape[:2]
    video = []
    for step in range(frames):
        matrix = cv2.getRotationMatrix2D((width / 2, height / 2), 0.2 * step, 1.0)
        matrix[:, 2] += np.array([0.6 * step - 30, 0.3 * step - 15])
        video.append(cv2.warpAffine(base, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE))
    return video


def start_mediapipe(sets: dict[str, list[np.ndarray]], workdir: Path) -> OracleWorker:
    """MediaPipe FaceMesh in the oracle virtualenv; "<mode> <set>" runs one timed round and
    answers {"wall", "cpu" (ms), "faces"} per frame."""
    paths: dict[str, list[str]] = {}
    for name, frames in sets.items():
        paths[name] = []
        for index, frame in enumerate(frames):
            path = workdir / f"{name}_{index:04d}.png"  # lossless: the same pixels
            cv2.imwrite(str(path), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
            paths[name].append(str(path))
    spec = workdir / "spec.json"
    spec.write_text(json.dumps({"sets": paths, "max_faces": MAX_FACES}))
    return OracleWorker([str(WORKERS / "mediapipe_facemesh_worker.py"), str(spec)], timeout_s=60)


def our_round(
    pipeline: FramePipeline, mode: str, frames: list[np.ndarray], max_faces: int
) -> dict[str, list[float]]:
    """One pass of our pipeline: {"wall", "cpu" (ms), "faces", "detector"} per frame."""
    state = TrackState() if mode == "tracking" else None
    out: dict[str, list[float]] = {"wall": [], "cpu": [], "faces": [], "detector": []}
    for frame in frames:
        start, start_cpu = time.perf_counter(), time.process_time()
        result = pipeline.process(frame, max_faces, state)
        out["wall"].append((time.perf_counter() - start) * 1e3)
        out["cpu"].append((time.process_time() - start_cpu) * 1e3)
        out["faces"].append(len(result.faces))
        out["detector"].append(int(result.detector_ran))
    return out


def summary(rounds: list[dict[str, list[float]]]) -> dict[str, Any]:
    """Throughput over all rounds (frames / total time), per-round spread, CPU time."""
    wall = np.concatenate([r["wall"] for r in rounds])
    cpu = np.concatenate([r["cpu"] for r in rounds])
    per_round = [len(r["wall"]) * 1e3 / sum(r["wall"]) for r in rounds]
    row: dict[str, Any] = {
        "frames_per_s": 1e3 / float(wall.mean()),
        "frames_per_s_per_round": per_round,
        "median_ms": float(np.median(wall)),
        "p90_ms": float(np.percentile(wall, 90)),
        "cpu_ms_per_frame": float(cpu.mean()),
        "frames_per_cpu_s": 1e3 / float(cpu.mean()),
        "faces_per_frame": float(np.mean(rounds[-1]["faces"])),
    }
    if "detector" in rounds[-1]:
        row["detector_runs_per_round"] = int(sum(rounds[-1]["detector"]))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="threads per model call (ours)")
    parser.add_argument(
        "--runtime", choices=("openvino", "onnxruntime"), default=Settings().runtime
    )
    parser.add_argument("--video-frames", type=int, default=100)
    args = parser.parse_args()

    sets = {
        "video": synthetic_video(args.video_frames),
        "stills": [decode(p) for p in sorted(FRAMES.iterdir()) if p.suffix in (".png", ".jpg")],
    }
    print(
        f"video: {len(sets['video'])} frames 512x512 (1 face); stills: {len(sets['stills'])} "
        f"golden frames; {args.rounds} rounds; ours on {args.threads} thread(s)"
    )
    # Every OpenVINO bucket compiled before timing (lazily, the first call of a size would pay it).
    settings = Settings(
        device="cpu",
        intra_op_threads=args.threads,
        runtime=args.runtime,
        openvino_eager_compile=True,
    )
    options = RuntimeOptions.from_settings(settings)
    mesh, detector = EmbeddedBackend.open(MODEL, options), EmbeddedDetector.open(DETECTOR, options)
    # Callers as the gateway's lifespan builds them (closed, with the models, at the end).
    with standalone_frame_pipeline(mesh, detector, settings) as pipeline:
        for _, mode, name in RUNS:  # warm-up
            if name == "video":
                our_round(pipeline, mode, sets[name][:3], MAX_FACES[name])
        with tempfile.TemporaryDirectory() as workdir, QuietCheck() as quiet:
            mediapipe = start_mediapipe(sets, Path(workdir))

            def contender(who: str, mode: str, name: str) -> Any:
                if who == "mediapipe":
                    return lambda: mediapipe.ask(f"{mode} {name}")
                return lambda: our_round(pipeline, mode, sets[name], MAX_FACES[name])

            try:
                rounds = interleaved(args.rounds, {"_".join(run): contender(*run) for run in RUNS})
            finally:
                mediapipe.close()

    results = {key: summary(each) for key, each in rounds.items()}
    print(
        f"\n{'contender':32s} {'frames/s':>9s} {'median ms':>10s} {'p90 ms':>8s} "
        f"{'CPU ms/frame':>13s} {'faces/frame':>12s}"
    )
    for key, row in results.items():
        print(
            f"{key:32s} {row['frames_per_s']:9.1f} {row['median_ms']:10.2f} "
            f"{row['p90_ms']:8.2f} {row['cpu_ms_per_frame']:13.2f} {row['faces_per_frame']:12.2f}"
        )

    def ratio(a: str, b: str) -> dict[str, float]:
        return {
            "wall": results[a]["frames_per_s"] / results[b]["frames_per_s"],
            "cpu": results[a]["frames_per_cpu_s"] / results[b]["frames_per_cpu_s"],
        }

    ratios = {
        "ours_static_over_mediapipe_static_video": ratio(
            "ours_static_video", "mediapipe_static_video"
        ),
        "ours_tracking_over_mediapipe_tracking_video": ratio(
            "ours_tracking_video", "mediapipe_tracking_video"
        ),
        "ours_static_over_mediapipe_static_stills": ratio(
            "ours_static_stills", "mediapipe_static_stills"
        ),
        "ours_tracking_over_ours_static_video": ratio("ours_tracking_video", "ours_static_video"),
        "mediapipe_tracking_over_mediapipe_static_video": ratio(
            "mediapipe_tracking_video", "mediapipe_static_video"
        ),
    }
    print("\nframes/s ratios (> 1: the first is faster), wall clock and by process CPU time:")
    for key, value in ratios.items():
        print(f"  {key:48s} wall {value['wall']:5.2f}x   CPU {value['cpu']:5.2f}x")
    ours_tracking = results["ours_tracking_video"]
    print(
        f"\nours, tracking: detector on {ours_tracking['detector_runs_per_round']} of "
        f"{len(sets['video'])} frames per round"
    )

    write_report(
        REPORT,
        {
            "rounds": args.rounds,
            "our_threads": args.threads,
            "sets": {
                "video": f"{len(sets['video'])} synthetic 512x512 frames, max_faces 1",
                "stills": f"{len(sets['stills'])} golden frames, max_faces 16",
            },
            "results": results,
            "ratios": ratios,
        },
        quiet,
    )


if __name__ == "__main__":
    main()
