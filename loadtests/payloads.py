"""The image mix the load tests post, built once per process from ``tests/data``.

Client apps send crops from their own detectors: mostly JPEG, at whatever size the crop came
out, sometimes PNG, now and then a crop with no face (the tracker lost it). The mix:

=================================  ======  ==============================================
variant                            weight  why
=================================  ======  ==============================================
JPEG q90, 192 px (as cut)          40      the common phone path
JPEG q80, 256 px (upscaled)        20      a detector cropping larger than the model input
PNG, 192 px                        15      lossless clients, exact goldens
JPEG q85, 128 px (downscaled)      15      small faces far from the camera
PNG, 384 px (upscaled)              5      high-resolution crops: decode + resize cost
JPEG q90, 192 px, no face           5      tracker drift / non-face crops
=================================  ======  ==============================================

Every face variant comes from a crop with a MediaPipe golden (``crops_goldens.json``), so the
response is checked against it (``checks.py``). Resizing keeps the golden valid because it is
normalised to the image; the server maps landmarks back to the posted image's pixels.
"""

from __future__ import annotations

import io
import json
import random
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

from loadtests.checks import Expected

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"

# (label, format, side in px or None for the original, JPEG quality, weight, golden
# tolerance). Tolerance: mean landmark distance to the MediaPipe golden / image width; about
# twice the worst case measured over all 40 crops with the embedded backend (png192 0.00%,
# jpeg192 0.43%, png384 0.57%, jpeg256 1.16%, jpeg128 2.39%).
FACE_VARIANTS: tuple[tuple[str, str, int | None, int, int, float], ...] = (
    ("jpeg192", "JPEG", None, 90, 40, 0.01),
    ("jpeg256", "JPEG", 256, 80, 20, 0.025),
    ("png192", "PNG", None, 0, 15, 0.005),
    ("jpeg128", "JPEG", 128, 85, 15, 0.045),
    ("png384", "PNG", 384, 0, 5, 0.012),
)
NONFACE_WEIGHT = 5

CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png"}


@dataclass(frozen=True)
class Payload:
    """One encoded image to post and what its response must look like."""

    name: str  # e.g. "jpeg192:dlib_2008_001009_face0"
    data: bytes
    content_type: str
    expected: Expected


def _encode(image: Image.Image, fmt: str, side: int | None, quality: int) -> tuple[bytes, int]:
    if side is not None and side != image.width:
        image = image.resize((side, side), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    if fmt == "JPEG":
        image.save(buffer, format="JPEG", quality=quality)
    else:
        image.save(buffer, format="PNG")
    return buffer.getvalue(), image.width


@cache
def crop_payloads(data_dir: Path = DATA) -> tuple[tuple[Payload, ...], tuple[int, ...]]:
    """All crop payloads and their sampling weights (see the module docstring)."""
    goldens = json.loads((data_dir / "crops_goldens.json").read_text())
    payloads: list[Payload] = []
    weights: list[int] = []
    n_faces = len(goldens)
    for entry in goldens:
        image = Image.open(data_dir / "crops" / entry["file"]).convert("RGB")
        golden = np.asarray(entry["landmarks"], dtype=np.float64)[:, :2]
        stem = Path(entry["file"]).stem
        for label, fmt, side, quality, weight, tolerance in FACE_VARIANTS:
            data, size = _encode(image, fmt, side, quality)
            payloads.append(
                Payload(
                    name=f"{label}:{stem}",
                    data=data,
                    content_type=CONTENT_TYPES[fmt],
                    expected=Expected(width=size, height=size, golden=golden, tolerance=tolerance),
                )
            )
            # Weights are per variant in total, so spread them over the crops.
            weights.append(weight * 100 // n_faces or 1)
    nonfaces = sorted((data_dir / "nonfaces").glob("*.png"))
    for path in nonfaces:
        image = Image.open(path).convert("RGB")
        data, size = _encode(image, "JPEG", None, 90)
        payloads.append(
            Payload(
                name=f"nonface:{path.stem}",
                data=data,
                content_type="image/jpeg",
                expected=Expected(width=size, height=image.height, golden=None),
            )
        )
        weights.append(NONFACE_WEIGHT * 100 // len(nonfaces))
    return tuple(payloads), tuple(weights)


@dataclass(frozen=True)
class Frame:
    """A whole photo for ``/v1/frame`` and the number of faces MediaPipe finds in it."""

    name: str
    data: bytes
    content_type: str
    width: int
    height: int
    faces: int


@cache
def frame_payloads(data_dir: Path = DATA) -> tuple[Frame, ...]:
    goldens = json.loads((data_dir / "frames_goldens.json").read_text())
    frames = []
    for entry in goldens:
        path = data_dir / "frames" / entry["file"]
        with Image.open(path) as image:
            width, height = image.size
        content_type = "image/png" if path.suffix == ".png" else "image/jpeg"
        frames.append(
            Frame(
                name=path.name,
                data=path.read_bytes(),
                content_type=content_type,
                width=width,
                height=height,
                faces=len(entry["faces"]),
            )
        )
    return tuple(frames)


def sample_crops(rng: random.Random, count: int) -> list[Payload]:
    """``count`` crops drawn from the weighted mix (with replacement)."""
    payloads, weights = crop_payloads()
    return rng.choices(payloads, weights=weights, k=count)


# Batch sizes a client sends to /v1/crops: mostly a few faces from one frame, sometimes a
# group photo. Weighted; must stay within the gateway's batch limit.
BATCH_SIZES = (1, 2, 3, 4, 6, 8, 12, 16)
BATCH_WEIGHTS = (10, 25, 20, 15, 10, 10, 5, 5)


def sample_batch_size(rng: random.Random, limit: int | None = None) -> int:
    sizes = [s for s in BATCH_SIZES if limit is None or s <= limit]
    weights = [w for s, w in zip(BATCH_SIZES, BATCH_WEIGHTS, strict=True) if s in sizes]
    return rng.choices(sizes, weights=weights, k=1)[0]
