"""Goldens for head pose: MediaPipe's own face geometry pipeline on our landmarks.

    .venv/bin/python -m tools.oracle.face_geometry_goldens
    # -> tests/data/face_geometry_goldens.json

Our frame pipeline (the built ONNX models, CPU) finds the faces of a few test frames, also
turned in-plane and mirrored; each face's first 468 landmarks (frame pixels, rounded to
0.001 px as the API returns them) go through ``tools/oracle/mediapipe_face_geometry.py`` in
the oracle virtualenv (mediapipe==0.10.21), which runs the Tasks API's
FaceGeometryPipelineCalculator with MediaPipe's metadata. The file keeps the landmarks and
MediaPipe's pose matrix, so the test needs neither the models nor MediaPipe.
"""

from __future__ import annotations

import json
import subprocess

import cv2
import numpy as np

from service.core.config import Settings
from service.inference.detector import EmbeddedDetector
from service.inference.embedded import EmbeddedBackend
from service.inference.runtime import RuntimeOptions
from service.lifespan import standalone_frame_pipeline
from service.processing.decode import decode_image
from service.processing.face_geometry import METADATA_PATH
from tools.oracle.oracle_env import REPO, WORKERS, oracle_python

FRAMES = REPO / "tests" / "data" / "frames"
# The goldens' reference runtime (the parity tests check OpenVINO against it).
ONNX_RUNTIME = RuntimeOptions(runtime="onnxruntime", device="cpu")
OUTPUT = REPO / "tests" / "data" / "face_geometry_goldens.json"
WORKER = WORKERS / "mediapipe_face_geometry.py"
# (frame, in-plane turn in degrees counter-clockwise, mirrored, vertical FOV)
CASES = [
    ("lenna.png", 0, False, 63.0),
    ("lenna.png", 20, False, 63.0),
    ("lenna.png", 0, True, 63.0),
    ("lenna.png", 0, False, 40.0),
    ("grace_hopper.jpg", -20, False, 63.0),
    ("takeo.png", 0, False, 63.0),
    ("dlib_2008_001322.jpg", 0, False, 63.0),
    ("dlib_2008_002506.jpg", 0, True, 75.0),
]


def _image(name: str, turn: float, mirrored: bool) -> np.ndarray:
    image = decode_image((FRAMES / name).read_bytes(), min_side=1, max_pixels=10**8)
    if turn:
        height, width = image.shape[:2]
        matrix = cv2.getRotationMatrix2D((width / 2.0, height / 2.0), turn, 1.0)
        image = cv2.warpAffine(image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)
    if mirrored:
        image = np.ascontiguousarray(image[:, ::-1])
    return image


def main() -> None:
    models = REPO / "model_repository"
    options = ONNX_RUNTIME
    settings = Settings(device="cpu")
    mesh = EmbeddedBackend.open(models / "facemesh/1/model.onnx", options)
    detector = EmbeddedDetector.open(models / "face_detector/1/model.onnx", options)
    items = []
    with standalone_frame_pipeline(mesh, detector, settings) as frames:
        for name, turn, mirrored, fov in CASES:
            image = _image(name, turn, mirrored)
            height, width = image.shape[:2]
            for face in frames.process(image, 16).faces:
                assert face.result.landmarks is not None
                landmarks = np.round(face.result.landmarks[:468], 3)
                items.append(
                    {
                        "file": f"frames/{name}",
                        "turn_degrees": turn,
                        "mirrored": mirrored,
                        "width": width,
                        "height": height,
                        "fov_degrees": fov,
                        "landmarks": landmarks.tolist(),
                    }
                )
    lines = "".join(
        json.dumps(
            {
                "width": item["width"],
                "height": item["height"],
                "fov_degrees": item["fov_degrees"],
                "landmarks": (
                    np.asarray(item["landmarks"]) / [item["width"], item["height"], item["width"]]
                ).tolist(),
            }
        )
        + "\n"
        for item in items
    )
    run = subprocess.run(
        [str(oracle_python()), str(WORKER), str(METADATA_PATH)],
        input=lines,
        check=True,
        capture_output=True,
        text=True,
    )
    answers = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    if len(answers) != len(items):
        raise RuntimeError("the oracle did not answer every face")
    for item, answer in zip(items, answers, strict=True):
        item["mediapipe_matrix"] = answer["matrix"]
        print(f"{item['file']} turn {item['turn_degrees']} mirrored {item['mirrored']}: ok")
    OUTPUT.write_text(json.dumps(items, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
