"""A fake-camera clip for Chromium (``--use-file-for-fake-video-capture``) made from a photo.

The photo is scaled to fit a 640x480 frame (the size the demo asks the camera for) and
centred on black, then written as an uncompressed Y4M (4:2:0, BT.601 limited range) of
identical frames; Chromium loops it. ``Placement`` maps the photo's pixel coordinates to the
clip's, so the photo's golden landmarks can be compared with what the demo receives.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

CLIP_SIZE = (640, 480)
CLIP_FPS = 15


@dataclass(frozen=True)
class Placement:
    """Photo pixel (x, y) -> clip pixel ``(x * scale_x + left, y * scale_y + top)``."""

    scale_x: float
    scale_y: float
    left: int
    top: int

    def apply(self, points: np.ndarray) -> np.ndarray:
        """(N, >=2) photo pixels -> (N, 2) clip pixels."""
        scale = np.array([self.scale_x, self.scale_y])
        return points[:, :2] * scale + np.array([self.left, self.top])


def fit_photo(photo: Image.Image) -> tuple[Image.Image, Placement]:
    """``photo`` scaled (aspect kept, even sizes) and centred on a black 640x480 RGB frame."""
    width, height = CLIP_SIZE
    ratio = min(width / photo.width, height / photo.height)
    new_w, new_h = round(photo.width * ratio), round(photo.height * ratio)
    scaled = photo.convert("RGB").resize((new_w, new_h), Image.Resampling.LANCZOS)
    frame = Image.new("RGB", CLIP_SIZE)
    left, top = (width - new_w) // 2, (height - new_h) // 2
    frame.paste(scaled, (left, top))
    return frame, Placement(new_w / photo.width, new_h / photo.height, left, top)


def rgb_to_i420(rgb: np.ndarray) -> bytes:
    """(H, W, 3) uint8 RGB, even H and W -> I420 planes (BT.601, limited range)."""
    r, g, b = (rgb[..., i].astype(np.float64) / 255.0 for i in range(3))
    y = 16 + 65.481 * r + 128.553 * g + 24.966 * b
    cb = 128 - 37.797 * r - 74.203 * g + 112.0 * b
    cr = 128 + 112.0 * r - 93.786 * g - 18.214 * b

    def subsample(plane: np.ndarray) -> np.ndarray:
        h, w = plane.shape
        return plane.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))

    planes = (y, subsample(cb), subsample(cr))
    return b"".join(np.clip(np.rint(p), 0, 255).astype(np.uint8).tobytes() for p in planes)


def write_y4m(frame: Image.Image, path: Path, frames: int = 10) -> Path:
    """``frames`` copies of ``frame`` as a Y4M file Chromium's fake camera can play."""
    return write_y4m_segments([frame], path, frames)


def write_y4m_segments(segments: Sequence[Image.Image], path: Path, frames: int) -> Path:
    """``frames`` copies of each picture in ``segments``, one after the other, as one Y4M file
    (all the same size); Chromium loops it, so the camera shows each picture in turn."""
    width, height = segments[0].size
    header = f"YUV4MPEG2 W{width} H{height} F{CLIP_FPS}:1 Ip A1:1 C420jpeg\n".encode()
    with path.open("wb") as out:
        out.write(header)
        for segment in segments:
            assert segment.size == (width, height)
            planes = rgb_to_i420(np.asarray(segment.convert("RGB")))
            for _ in range(frames):
                out.write(b"FRAME\n")
                out.write(planes)
    return path
