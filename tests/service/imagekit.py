"""Helpers that build image bytes for the service tests (valid, converted and hostile)."""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

DATA = Path(__file__).resolve().parents[1] / "data"
CROPS = DATA / "crops"


def encode(image: Image.Image | np.ndarray, fmt: str = "PNG", **params: object) -> bytes:
    """Encode a Pillow image (or uint8 array) with Pillow."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def crop_array(name: str) -> np.ndarray:
    """uint8 [192, 192, 3] RGB of ``tests/data/crops/<name>.png``."""
    with Image.open(CROPS / f"{name}.png") as image:
        return np.asarray(image.convert("RGB"))


def crop_bytes(name: str) -> bytes:
    """The file bytes of ``tests/data/crops/<name>.png``, exactly as stored."""
    return (CROPS / f"{name}.png").read_bytes()


def goldens() -> dict[str, np.ndarray]:
    """Crop name -> MediaPipe float64 [478, 3] landmarks in px192 (x, y, z)."""
    items = json.loads((DATA / "crops_goldens.json").read_text())
    return {Path(item["file"]).stem: np.asarray(item["landmarks"]) * 192.0 for item in items}


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def raw_png(width: int, height: int, bit_depth: int, color_type: int, rows: bytes | None) -> bytes:
    """A PNG written by hand: any header, and ``rows`` (filter byte + samples per row) as IDAT.

    ``rows=None`` writes all-zero rows of the right length (a decompression bomb for large
    sizes: the IDAT stays a few KB while the decoded image would be huge).
    """
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[color_type]
    if rows is None:
        row = b"\x00" * (1 + (width * channels * bit_depth + 7) // 8)
        compressor = zlib.compressobj(9)
        idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    else:
        idat = zlib.compress(rows)
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", idat)
        + _chunk(b"IEND", b"")
    )


def png16_rgb(rgb8: np.ndarray) -> bytes:
    """A 16-bit-per-channel RGB PNG whose high bytes are ``rgb8`` (low bytes = high bytes)."""
    height, width, _ = rgb8.shape
    wide = rgb8.astype(">u2") * 257
    rows = b"".join(b"\x00" + wide[y].tobytes() for y in range(height))
    return raw_png(width, height, 16, 2, rows)


def png16_grey(grey8: np.ndarray) -> bytes:
    """A 16-bit greyscale PNG holding ``grey8 * 257`` (so it rescales exactly to ``grey8``)."""
    height, width = grey8.shape
    wide = grey8.astype(">u2") * 257
    rows = b"".join(b"\x00" + wide[y].tobytes() for y in range(height))
    return raw_png(width, height, 16, 0, rows)
