"""Goldens for the cascade pipeline: MediaPipe's own non-attention pipeline on the shared crops.

    .venv/bin/python -m benchmarks.cascade_goldens   # -> tests/data/crops_cascade_goldens.json

Runs ``tools/oracle/mediapipe_cascade.py`` in the oracle virtualenv (mediapipe==0.10.21, created
under .cache/ on first use) over every crop in tests/data/crops, then applies MediaPipe's
iris-tracking merge (``UpdateFaceLandmarksCalculator``: the 71 contour points of each eye
overwrite x, y, z at its 71 mesh indices; then the left and right irises are appended), which
the wheel does not register. Coordinates are normalised like MediaPipe's (x, y by 192, z by 192).
"""

from __future__ import annotations

import json
import subprocess

import numpy as np

from service.contract import LEFT_EYE, RIGHT_EYE
from tools.oracle.oracle_env import REPO, WORKERS, oracle_python

CROPS = sorted((REPO / "tests" / "data" / "crops").glob("*.png"))
OUTPUT = REPO / "tests" / "data" / "crops_cascade_goldens.json"
WORKER = WORKERS / "mediapipe_cascade.py"


def oracle_stages(paths: list[str]) -> list[dict[str, object]]:
    """One dict per path: the oracle's stage outputs (see mediapipe_cascade.py)."""
    run = subprocess.run(
        [str(oracle_python()), str(WORKER), "goldens", *paths],
        check=True,
        capture_output=True,
        text=True,
    )
    return [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]


def merge(stage: dict[str, object]) -> list[list[float]]:
    """MediaPipe's iris-tracking merge -> 478 x [x, y, z] normalised."""
    merged = np.asarray(stage["mesh"], dtype=np.float64).copy()
    eyes = np.asarray(stage["eyes"], dtype=np.float64)
    merged[list(LEFT_EYE)] = eyes[0]
    merged[list(RIGHT_EYE)] = eyes[1]
    irises = np.asarray(stage["irises"], dtype=np.float64).reshape(10, 3)
    out: list[list[float]] = rounded(np.concatenate([merged, irises]))
    return out


def rounded(values: object) -> list[list[float]]:
    """Six decimals: 1e-6 of 192 px is 0.0002 px, far below any tolerance."""
    out: list[list[float]] = np.round(np.asarray(values, dtype=np.float64), 6).tolist()
    return out


def main() -> None:
    stages = oracle_stages([str(p) for p in CROPS])
    items = []
    for path, stage in zip(CROPS, stages, strict=True):
        if stage["path"] != str(path):
            raise RuntimeError(f"oracle answered {stage['path']} for {path}")
        item: dict[str, object] = {"file": f"crops/{path.name}"}
        if stage["mesh"] is None:
            item.update(mesh=None, landmarks=None)
        else:
            item.update(
                mesh=rounded(stage["mesh"]),
                eye_rois=rounded(stage["rois"]),
                landmarks=merge(stage),
            )
        items.append(item)
    OUTPUT.write_text(json.dumps(items, separators=(",", ":")) + "\n")
    missing = [i["file"] for i in items if i["landmarks"] is None]
    found = len(items) - len(missing)
    print(f"{len(items)} crops, {found} with a face -> {OUTPUT.relative_to(REPO)}")
    if missing:
        print("no face (score <= 0.5):", ", ".join(map(str, missing)))


if __name__ == "__main__":
    main()
