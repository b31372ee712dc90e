"""The seed paper's Table 1 (speed) and Table 2 (accuracy) reproduced on this machine.

    .venv/bin/python -m benchmarks.paper_tables [--rounds 5] [--no-mediapipe]   # or: make paper

Table 1: per-model and per-pipeline latency with ONNX Runtime CPU, batch 1, 1 intra-op thread
(mesh model, iris model for one eye, the whole cascade, the fused attention model), all timed in
interleaved rounds over the same 42 crops in one run; batched throughput; MACs and parameters
per model. Unless ``--no-mediapipe``, MediaPipe's own two pipelines (oracle virtualenv) are
timed in the same rounds.

Table 2: NME (% of the inter-ocular distance, outer eye corners) for all 68 points, lips (48-67)
and eyes (36-47) of mesh-only, cascade and attention on the human-annotated 68-point faces
(takeo, einstein, lenna), and on the faces dlib's 68-point model labelled (machine labels,
reported apart); plus each pipeline's distance to MediaPipe's attention goldens on the crops.

Writes docs/paper_tables.md, docs/paper_tables.png, docs/paper_tables_landmarks.png and
docs/paper_tables.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import onnx
import onnxruntime as ort
from PIL import Image

from converter.source import fetch_tflite
from converter.summary import summarize, tflite_parameters
from converter.tflite_model import read_tflite
from service import contract
from service.contract import CASCADE_MESH_SPEC, IRIS_SPEC
from service.inference.cascade import CascadeBackend
from service.inference.embedded import EmbeddedBackend
from service.inference.runtime import OnnxRuntimeRuntime, RuntimeOptions
from service.processing import iris_refinement
from tools.oracle.oracle_env import REPO, WORKERS, OracleWorker

DATA = REPO / "tests" / "data"
DOCS = REPO / "docs"
CROPS = sorted((DATA / "crops").glob("*.png"))
MODELS = {
    "attention": (REPO / "model_repository/facemesh/1/model.onnx", "face_landmark_with_attention"),
    "mesh": (REPO / "model_repository/face_landmark_cascade/1/model.onnx", "face_landmark"),
    "iris": (REPO / "model_repository/iris_landmark/1/model.onnx", "iris_landmark"),
}

# The paper (Table 1: Pixel 2XL; Table 2: its own evaluation set and annotation).
PAPER_MS = {"mesh": 8.82, "lips": 4.18, "eye_iris": 4.70, "cascade": 22.4, "attention": 16.6}
PAPER_NME = {
    "mesh": (2.99, 3.28, 6.6),
    "cascade": (2.99, 2.70, 6.28),
    "attention": (3.11, 2.89, 6.04),
}

# MediaPipe mesh index(es) for each iBUG 68 point (averaged when two), from
# github.com/PeizhiYan/Mediapipe_2_Dlib_Landmarks (mp2dlib.py, 2024). 68-point order: jaw 0-16,
# brows 17-26, nose 27-35, eyes 36-47 (36/45 outer corners), mouth 48-67 (outer 48-59,
# inner 60-67). All indices are < 468, so the same map serves the 468 and 478 outputs.
MP_TO_IBUG68: tuple[tuple[int, ...], ...] = (
    *((127,), (234,), (93,), (132, 58), (58, 172), (136,), (150,), (176,), (152,)),
    *((400,), (379,), (365,), (397, 288), (361,), (323,), (454,), (356,)),
    *((70,), (63,), (105,), (66,), (107,), (336,), (296,), (334,), (293,), (300,)),
    *((168, 6), (197, 195), (5,), (4,), (75,), (97,), (2,), (326,), (305,)),
    *((33,), (160,), (158,), (133,), (153,), (144,), (362,), (385,), (387,), (263,)),
    *((373,), (380,)),
    *((61,), (39,), (37,), (0,), (267,), (269,), (291,), (321,), (314,), (17,), (84,), (91,)),
    *((78,), (82,), (13,), (312,), (308,), (317,), (14,), (87,)),
)
IBUG_REGIONS = {"all": range(68), "lips": range(48, 68), "eyes": range(36, 48)}
IBUG_OUTER_EYES = (36, 45)
PIPELINES = ("mesh", "cascade", "attention")


def to_ibug68(points: np.ndarray) -> np.ndarray:
    """float [468|478, >=2] -> float64 [68, 2]."""
    xy = np.asarray(points, dtype=np.float64)[:, :2]
    return np.stack([xy[list(group)].mean(axis=0) for group in MP_TO_IBUG68])


# --- models -------------------------------------------------------------------------------


def session(path: Path, threads: int = 1) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class Pipelines:
    """The three pipelines on ONNX Runtime CPU, 1 intra-op thread, px192 outputs."""

    def __init__(self) -> None:
        options = RuntimeOptions(runtime="onnxruntime", device="cpu", threads=1)
        self.attention = EmbeddedBackend.open(MODELS["attention"][0], options)
        self.cascade = CascadeBackend(
            OnnxRuntimeRuntime(MODELS["mesh"][0], CASCADE_MESH_SPEC, options),
            OnnxRuntimeRuntime(MODELS["iris"][0], IRIS_SPEC, options),
        )
        self.mesh_session = session(MODELS["mesh"][0])
        self.iris_session = session(MODELS["iris"][0])

    def landmarks(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """uint8 [N, 192, 192, 3] -> pipeline -> float [N, 468|478, 3] px192."""
        attention = self.attention.infer(images)
        cascaded = self.iris_refinement.infer(images)
        return {
            "mesh": cascaded.mesh,
            "cascade": cascaded.landmarks,
            "attention": attention.landmarks,
        }


# --- Table 1 --------------------------------------------------------------------------------


def mediapipe_round(worker: OracleWorker) -> list[float]:
    """One timed pass of a MediaPipe worker over the crops: per-crop wall milliseconds."""
    answer = worker.ask("round")
    times: list[float] = answer["wall"] if isinstance(answer, dict) else answer
    return times


def timed(fn: Callable[[np.ndarray], object], inputs: list[np.ndarray]) -> list[float]:
    times = []
    for item in inputs:
        start = time.perf_counter()
        fn(item)
        times.append((time.perf_counter() - start) * 1e3)
    return times


def table1(pipes: Pipelines, images: np.ndarray, rounds: int, mediapipe: bool) -> dict[str, Any]:
    singles = [image[None] for image in images]
    rois = iris_refinement.eye_rois(pipes.iris_refinement.infer(images).mesh)
    eyes = iris_refinement.crop_eyes(images, rois)
    eye_singles = [eye[None] for eye in eyes[::2]]  # one eye per face (left, as the model sees)
    mesh_out = pipes.mesh_session.run(None, {"image": images[:1]})
    del mesh_out

    def glue(image: np.ndarray) -> None:  # the cascade's NumPy between/after the models
        mesh = pipes.mesh_session.run(["mesh"], {"image": image})[0]
        start = time.perf_counter()
        r = iris_refinement.eye_rois(mesh)
        crops = iris_refinement.crop_eyes(image, r)
        glue_ms.append((time.perf_counter() - start) * 1e3)
        iris = pipes.iris_session.run(["eye_contour", "iris"], {"image": crops})
        start = time.perf_counter()
        iris_refinement.assemble_outputs(mesh, np.ones(1), r, iris[0], iris[1])
        glue_ms[-1] += (time.perf_counter() - start) * 1e3

    contenders: dict[str, tuple[Callable[[np.ndarray], object], list[np.ndarray]]] = {
        "mesh": (lambda x: pipes.mesh_session.run(None, {"image": x}), singles),
        "iris_one_eye": (lambda x: pipes.iris_session.run(None, {"image": x}), eye_singles),
        "iris_both_eyes_batch2": (
            lambda x: pipes.iris_session.run(None, {"image": x}),
            [eyes[i : i + 2] for i in range(0, len(eyes), 2)],
        ),
        "cascade": (pipes.iris_refinement.infer, singles),
        "attention": (pipes.attention.infer, singles),
    }
    for fn, inputs in contenders.values():
        timed(fn, inputs[:5])  # warm-up
    glue_ms: list[float] = []
    latency: dict[str, list[float]] = {key: [] for key in contenders}
    workers: dict[str, OracleWorker] = {}
    if mediapipe:
        crops = [str(p) for p in CROPS]
        workers = {
            "mediapipe_attention": OracleWorker([str(WORKERS / "mediapipe_worker.py"), *crops]),
            "mediapipe_cascade": OracleWorker(
                [str(WORKERS / "mediapipe_cascade.py"), "timing", *crops]
            ),
        }
        latency.update({key: [] for key in workers})
    try:
        for _ in range(rounds):  # interleaved: every contender sees the same machine load
            for key, (fn, inputs) in contenders.items():
                latency[key] += timed(fn, inputs)
            for key, worker in workers.items():
                latency[key] += mediapipe_round(worker)
            for image in singles:
                glue(image)
    finally:
        for worker in workers.values():
            worker.close()
    latency["cascade_numpy"] = glue_ms
    median = {key: statistics.median(times) for key, times in latency.items()}
    p90 = {key: float(np.percentile(times, 90)) for key, times in latency.items()}

    throughput: dict[str, dict[str, float]] = {}
    for batch in (8, 32):
        batches = [images[i : i + batch] for i in range(0, len(images) - batch + 1, batch)]
        for fn in (pipes.iris_refinement.infer, pipes.attention.infer):
            timed(fn, batches[:1])  # warm-up
        times: dict[str, list[float]] = {"cascade": [], "attention": []}
        for _ in range(max(2, rounds)):
            times["cascade"] += timed(pipes.iris_refinement.infer, batches)
            times["attention"] += timed(pipes.attention.infer, batches)
        throughput[str(batch)] = {
            name: batch * 1e3 / statistics.median(t) for name, t in times.items()
        }

    models = {}
    for key, (path, tflite_name) in MODELS.items():
        info = summarize(onnx.load(str(path)))
        tflite = read_tflite(fetch_tflite(tflite_name, REPO / ".cache"))
        models[key] = {
            "onnx": str(path.relative_to(REPO)),
            "tflite_parameters": tflite_parameters(tflite),
            "macs": info.macs,
        }
    return {
        "median_ms": median,
        "p90_ms": p90,
        "samples": {key: len(times) for key, times in latency.items()},
        "throughput_faces_per_s": throughput,
        "models": models,
        "ratio_attention_over_cascade": median["attention"] / median["cascade"],
        "ratio_attention_over_mesh_plus_2_iris": median["attention"]
        / (median["mesh"] + 2 * median["iris_one_eye"]),
        "mediapipe_ratio_attention_over_cascade": (
            median["mediapipe_attention"] / median["mediapipe_cascade"] if mediapipe else None
        ),
    }


# --- Table 2 --------------------------------------------------------------------------------


def read_pts(path: Path) -> np.ndarray:
    """menpo/iBUG .pts: x y per line."""
    body = path.read_text().split("{", 1)[1].split("}", 1)[0]
    return np.asarray(body.split(), dtype=np.float64).reshape(-1, 2)


def read_ljson(path: Path) -> np.ndarray:
    """menpo LJSON v3: points stored (y, x)."""
    points = json.loads(path.read_text())["groups"]["LJSON"]["landmarks"]["points"]
    return np.asarray(points, dtype=np.float64)[:, ::-1]


def annotated_faces() -> dict[str, list[tuple[str, Path, np.ndarray]]]:
    """Human-annotated (menpo) and dlib-model-labelled faces: (name, frame, 68 x [x, y])."""
    ann = DATA / "annotations"
    human = [
        ("takeo", DATA / "frames/takeo.png", read_pts(ann / "takeo.pts")),
        ("einstein", DATA / "frames/einstein.jpg", read_pts(ann / "einstein.pts")),
        ("lenna", DATA / "frames/lenna.png", read_ljson(ann / "lenna.ljson")),
    ]
    machine = []
    for xml in sorted(ann.glob("dlib_*.xml")):
        for image in ET.parse(xml).getroot().iter("image"):
            frame = DATA / "frames" / f"dlib_{image.get('file')}"
            if not frame.is_file():
                continue
            for k, box in enumerate(image.iter("box")):
                parts = sorted(box.iter("part"), key=lambda p: int(p.get("name", "0")))
                if len(parts) == 68:
                    points = np.array([[float(p.get("x", 0)), float(p.get("y", 0))] for p in parts])
                    machine.append((f"{frame.stem}#{k}", frame, points))
    return {"human": human, "dlib_model": machine}


def crop_from_annotation(frame: Path, points: np.ndarray) -> tuple[np.ndarray, float, float, float]:
    """Upright square around the 68 points (side 1.7 x the longer side of their box, centre
    raised by 10% of the box height to take in the forehead the 468-point mesh covers),
    resized to 192 (area averaging). Returns the crop and (x0, y0, side) in frame pixels."""
    low, high = points.min(axis=0), points.max(axis=0)
    size = high - low
    side = 1.7 * float(size.max())
    cx, cy = (low + high) / 2 - np.array([0.0, 0.1 * size[1]])
    x0, y0 = float(cx - side / 2), float(cy - side / 2)
    with Image.open(frame) as image:
        rgb = np.asarray(image.convert("RGB"))
    pad = int(np.ceil(side))  # edge-replicated margin, so the square may leave the photo
    padded = Image.fromarray(np.pad(rgb, ((pad, pad), (pad, pad), (0, 0)), mode="edge"))
    box = (x0 + pad, y0 + pad, x0 + pad + side, y0 + pad + side)
    crop = padded.resize((192, 192), Image.Resampling.BOX, box=box)
    return np.asarray(crop), x0, y0, side


def nme(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    iod = float(np.linalg.norm(truth[IBUG_OUTER_EYES[0]] - truth[IBUG_OUTER_EYES[1]]))
    errors = np.linalg.norm(pred - truth, axis=1) / iod * 100.0
    return {region: float(errors[list(idx)].mean()) for region, idx in IBUG_REGIONS.items()}


def table2(pipes: Pipelines) -> dict[str, Any]:
    out: dict[str, Any] = {}
    per_face: dict[str, Any] = {}
    for group, faces in annotated_faces().items():
        scores: dict[str, list[dict[str, float]]] = {p: [] for p in PIPELINES}
        for name, frame, truth in faces:
            crop, x0, y0, side = crop_from_annotation(frame, truth)
            results = pipes.landmarks(crop[None])
            per_face[name] = {"group": group}
            for pipeline, points in results.items():
                frame_xy = np.asarray(points[0][:, :2], np.float64) * side / 192.0 + [x0, y0]
                score = nme(to_ibug68(frame_xy), truth)
                scores[pipeline].append(score)
                per_face[name][pipeline] = score
        out[group] = {
            "faces": len(faces),
            "nme": {
                p: {r: float(np.mean([s[r] for s in scores[p]])) for r in IBUG_REGIONS}
                for p in PIPELINES
            },
        }
    out["per_face"] = per_face
    return out


def attention_golden_distance(pipes: Pipelines, images: np.ndarray) -> dict[str, Any]:
    """Mean px192 distance (x, y) and NME (% of the golden's 33-263 distance) to MediaPipe's
    attention goldens on the crops that have one, per region of the 478 points."""
    goldens = {
        Path(item["file"]).stem: np.asarray(item["landmarks"]) * 192.0
        for item in json.loads((DATA / "crops_goldens.json").read_text())
    }
    keep = [i for i, path in enumerate(CROPS) if path.stem in goldens]
    results = pipes.landmarks(images[keep])
    eyes = [*contract.LEFT_EYE, *contract.RIGHT_EYE]
    regions = {
        "all": list(range(468)),
        "lips": list(contract.LIPS),
        "eyes": eyes,
        "irises": list(range(468, 478)),
    }
    out: dict[str, Any] = {"crops": len(keep)}
    for pipeline, points in results.items():
        px: dict[str, float] = {}
        rel: dict[str, float] = {}
        for region, idx in regions.items():
            if region == "irises" and points.shape[1] < 478:
                continue
            errors, norms = [], []
            for k, i in enumerate(keep):
                golden = goldens[CROPS[i].stem]
                errors.append(np.linalg.norm(points[k][idx, :2] - golden[idx, :2], axis=1).mean())
                norms.append(np.linalg.norm(golden[33, :2] - golden[263, :2]))
            px[region] = float(np.mean(errors))
            rel[region] = float(np.mean(np.asarray(errors) / np.asarray(norms)) * 100)
        out[pipeline] = {"mean_px192": px, "nme_percent": rel}
    return out


# --- report ---------------------------------------------------------------------------------


def draw_charts(report: dict[str, Any]) -> None:
    t1, t2 = report["table1"], report["table2"]["human"]["nme"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.8))
    labels = ["mesh", "eye & iris\n(one eye)", "cascade", "attention"]
    ours = [t1["median_ms"][k] for k in ("mesh", "iris_one_eye", "cascade", "attention")]
    paper = [PAPER_MS[k] for k in ("mesh", "eye_iris", "cascade", "attention")]
    x = np.arange(len(labels))
    ax1.bar(x - 0.2, paper, 0.4, label="paper (Pixel 2XL, TFLite GPU)", color="#bbbbbb")
    ax1.bar(x + 0.2, ours, 0.4, label="ours (ONNX Runtime CPU, 1 thread)", color="#3b75af")
    for xi, v in zip(x, ours, strict=True):
        ax1.text(xi + 0.2, v, f"{v:.2f}", ha="center", va="bottom", fontsize=8)
    ax1.set_xticks(x, labels)
    ax1.set_ylabel("ms per face (batch 1)")
    ax1.set_title("Table 1: latency")
    ax1.legend(fontsize=8)
    groups = ["all", "lips", "eyes"]
    width = 0.13
    for k, pipeline in enumerate(PIPELINES):
        pos = np.arange(3) + (k - 1) * 2 * width
        ax2.bar(pos - width / 2, PAPER_NME[pipeline], width, color="#bbbbbb", edgecolor="white")
        ax2.bar(
            pos + width / 2,
            [t2[pipeline][g] for g in groups],
            width,
            color=["#8c564b", "#3b75af", "#2ca02c"][k],
            label=f"{pipeline} (ours)",
        )
    ax2.set_xticks(np.arange(3), groups)
    ax2.set_ylabel("NME, % of inter-ocular distance")
    ax2.set_title("Table 2: accuracy (grey: paper; ours: 3 human-annotated faces)")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(DOCS / "paper_tables.png", dpi=110)
    plt.close(fig)


def draw_landmarks(pipes: Pipelines) -> None:
    truth = read_pts(DATA / "annotations" / "takeo.pts")
    crop, x0, y0, side = crop_from_annotation(DATA / "frames" / "takeo.png", truth)
    results = pipes.landmarks(crop[None])
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.4))
    colours = {"mesh": "#8c564b", "cascade": "#3b75af", "attention": "#2ca02c"}
    gt192 = (truth - [x0, y0]) * 192.0 / side
    for ax, pipeline in zip(axes, PIPELINES, strict=True):
        points = results[pipeline][0]
        ax.imshow(crop)
        ax.scatter(points[:, 0], points[:, 1], s=2, c=colours[pipeline], label=f"{pipeline}")
        if points.shape[0] == 478:
            ax.scatter(points[468:, 0], points[468:, 1], s=6, c="yellow", label="irises")
        ax.scatter(gt192[:, 0], gt192[:, 1], s=8, marker="x", c="red", label="human 68")
        ax.set_title(f"{pipeline} ({points.shape[0]} points)")
        ax.axis("off")
        ax.legend(loc="lower left", fontsize=7)
    fig.tight_layout()
    fig.savefig(DOCS / "paper_tables_landmarks.png", dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-mediapipe", action="store_true")
    args = parser.parse_args()
    images = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in CROPS])
    machine = (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs, "
        f"onnxruntime {ort.__version__}, CPU only (no GPU on this machine)"
    )
    print(f"{len(images)} crops; {machine}")
    pipes = Pipelines()
    report: dict[str, Any] = {"machine": machine, "rounds": args.rounds}
    report["table1"] = table1(pipes, images, args.rounds, not args.no_mediapipe)
    report["table2"] = table2(pipes)
    report["attention_goldens"] = attention_golden_distance(pipes, images)
    DOCS.mkdir(exist_ok=True)
    (DOCS / "paper_tables.json").write_text(json.dumps(report, indent=1) + "\n")
    draw_charts(report)
    draw_landmarks(pipes)
    text = render(report)
    (DOCS / "paper_tables.md").write_text(text)
    print(text.split("## Table 1", 1)[1].split("## Why", 1)[0])


def render(report: dict[str, Any]) -> str:
    from benchmarks.paper_tables_report import render_markdown

    return render_markdown(report, PAPER_MS, PAPER_NME)


if __name__ == "__main__":
    main()
