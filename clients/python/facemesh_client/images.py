"""Anything a caller calls an image -> the bytes and media type to post.

Accepted: a path (``str`` or ``os.PathLike``), encoded bytes (JPEG, PNG, WebP: sent as they
are), a Pillow image, or a NumPy ``uint8`` array (``H x W`` grey, ``H x W x 3`` RGB or
``H x W x 4`` RGBA; the server drops alpha). Arrays are encoded as PNG by this module
(lossless, no Pillow needed) or, with ``image_format="jpeg"``, as JPEG by Pillow; Pillow
images are encoded by Pillow. Pillow is imported only when needed (``pip install
facemesh-client[pillow]``).
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Union

import numpy as np

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

ImageFormat = Literal["png", "jpeg"]
ImageInput = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, np.ndarray, "PILImage"]
"""What ``crop``, ``crops``, ``frame`` and ``track`` accept as one image."""

OCTET_STREAM = "application/octet-stream"


@dataclass(frozen=True)
class Upload:
    """Encoded image bytes and their media type (``application/octet-stream`` when the
    bytes are not recognisably JPEG, PNG or WebP: the server then says what is wrong)."""

    data: bytes
    content_type: str


def sniff(data: bytes) -> str:
    """Media type from the magic bytes: image/jpeg, image/png, image/webp, else octet-stream."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return OCTET_STREAM


def to_upload(
    image: ImageInput, image_format: ImageFormat = "png", jpeg_quality: int = 90
) -> Upload:
    """Encode ``image`` for posting (``image_format``/``jpeg_quality`` apply to arrays and
    Pillow images; paths and bytes are sent unchanged)."""
    if isinstance(image, (bytes, bytearray, memoryview)):
        data = bytes(image)
        return Upload(data, sniff(data))
    if isinstance(image, (str, os.PathLike)):
        data = Path(image).read_bytes()
        return Upload(data, sniff(data))
    if isinstance(image, np.ndarray):
        array = _checked_array(image)
        if image_format == "png":
            return Upload(encode_png(array), "image/png")
        return _pillow_encode(_pillow().fromarray(array), image_format, jpeg_quality)
    if _is_pillow_image(image):
        return _pillow_encode(image, image_format, jpeg_quality)
    raise TypeError(
        "image must be a path, bytes, a PIL image or a uint8 NumPy array, "
        f"not {type(image).__name__}"
    )


def _checked_array(image: np.ndarray) -> np.ndarray:
    if image.dtype != np.uint8:
        raise TypeError(f"NumPy images must be uint8 (0..255), not {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (3, 4))):
        raise ValueError(f"NumPy images must be H x W, H x W x 3 or H x W x 4, not {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"empty image {image.shape}")
    return np.ascontiguousarray(image)


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def encode_png(array: np.ndarray, level: int = 6) -> bytes:
    """A PNG of a uint8 ``H x W`` (grey), ``H x W x 3`` (RGB) or ``H x W x 4`` (RGBA) array,
    written with zlib only (filter type 0 on every row)."""
    array = _checked_array(array)
    height, width = array.shape[:2]
    channels = 1 if array.ndim == 2 else array.shape[2]
    color_type = {1: 0, 3: 2, 4: 6}[channels]
    rows = array.reshape(height, width * channels)
    raw = np.empty((height, 1 + width * channels), dtype=np.uint8)
    raw[:, 0] = 0  # filter: none
    raw[:, 1:] = rows
    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            _png_chunk(b"IHDR", header),
            _png_chunk(b"IDAT", zlib.compress(raw.tobytes(), level)),
            _png_chunk(b"IEND", b""),
        )
    )


def _pillow() -> Any:
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "encoding JPEG needs Pillow: pip install 'facemesh-client[pillow]'"
        ) from exc
    return Image


def _is_pillow_image(image: object) -> bool:
    # No import: a caller holding a PIL image has Pillow loaded already.
    return any(
        cls.__module__.startswith("PIL.") and cls.__name__ == "Image" for cls in type(image).__mro__
    )


def _pillow_encode(image: Any, image_format: ImageFormat, jpeg_quality: int) -> Upload:
    if image.mode not in ("RGB", "L", "RGBA"):
        image = image.convert("RGB")
    buffer = io.BytesIO()
    if image_format == "jpeg":
        if image.mode == "RGBA":
            image = image.convert("RGB")
        image.save(buffer, format="JPEG", quality=jpeg_quality)
        return Upload(buffer.getvalue(), "image/jpeg")
    image.save(buffer, format="PNG")
    return Upload(buffer.getvalue(), "image/png")
