"""Goldens for the full-range face detector: MediaPipe's own full-range face detection on the
test frames and on downscaled copies whose faces are about 30 px wide.

    .venv/bin/python -m tools.oracle.full_range_goldens
    # -> tests/data/frames_small/*.png, tests/data/full_range_goldens.json

First runs ``tools/oracle/mediapipe_full_range.py`` (oracle virtualenv, mediapipe==0.10.21)
on every frame in tests/data/frames; each frame with a face is then shrunk (Pillow ``BOX``)
so that its median detected face is ``TARGET_FACE_PX`` wide, saved as PNG (the test reads the
same pixels the oracle saw), and the oracle runs again on those copies. Coordinates are
normalised to the image, as MediaPipe returns them, rounded to 6 decimals.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
from PIL import Image

from tools.oracle.oracle_env import REPO, WORKERS, oracle_python

FRAMES = sorted((REPO / "tests" / "data" / "frames").glob("*"))
SMALL = REPO / "tests" / "data" / "frames_small"
OUTPUT = REPO / "tests" / "data" / "full_range_goldens.json"
WORKER = WORKERS / "mediapipe_full_range.py"
TARGET_FACE_PX = 30.0


def oracle(paths: list[Path]) -> list[dict[str, object]]:
    run = subprocess.run(
        [str(oracle_python()), str(WORKER), *map(str, paths)],
        check=True,
        capture_output=True,
        text=True,
    )
    answers = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    if [a["path"] for a in answers] != [str(p) for p in paths]:
        raise RuntimeError("the oracle did not answer every image in order")
    return answers


def shrink(path: Path, answer: dict[str, object]) -> Path | None:
    """A copy of ``path`` whose median face is TARGET_FACE_PX wide (None: no face, or the
    faces are already that small)."""
    detections = answer["detections"]
    assert isinstance(detections, list)
    if not detections:
        return None
    width = int(str(answer["width"]))
    face_px = float(np.median([d["box"][2] * width for d in detections]))
    scale = TARGET_FACE_PX / face_px
    if scale >= 1.0:
        return None
    with Image.open(path) as image:
        rgb = image.convert("RGB")
        size = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
        small = rgb.resize(size, Image.Resampling.BOX)
    SMALL.mkdir(exist_ok=True)
    target = SMALL / f"{path.stem}_small.png"
    small.save(target, optimize=True)
    return target


def rounded(answer: dict[str, object], path: Path) -> dict[str, object]:
    detections = answer["detections"]
    assert isinstance(detections, list)
    return {
        "file": str(path.relative_to(REPO / "tests" / "data")),
        "width": answer["width"],
        "height": answer["height"],
        "detections": [
            {
                "box": np.round(d["box"], 6).tolist(),
                "keypoints": np.round(d["keypoints"], 6).tolist(),
                "score": round(float(d["score"]), 6),
            }
            for d in detections
        ],
    }


def main() -> None:
    first = oracle(FRAMES)
    small = [s for s in (shrink(p, a) for p, a in zip(FRAMES, first, strict=True)) if s]
    second = oracle(small)
    items = [rounded(a, p) for p, a in zip(FRAMES, first, strict=True)]
    items += [rounded(a, p) for p, a in zip(small, second, strict=True)]
    OUTPUT.write_text(json.dumps(items, indent=1) + "\n")
    for item in items:
        detections = item["detections"]
        assert isinstance(detections, list)
        widths = [round(d["box"][2] * int(str(item["width"]))) for d in detections]
        print(f"{item['file']}: {len(detections)} face(s), widths {widths} px")


if __name__ == "__main__":
    main()
