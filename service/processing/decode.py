"""Image bytes -> uint8 [H, W, 3] RGB, rejecting anything unusable before it costs memory.

Order of checks (all before any pixel is decoded, except the last two):

1. empty body                                  -> ``empty_body``
2. format sniffed from the bytes, JPEG/PNG/WebP only (not the declared type) -> ``not_an_image``
3. header width*height > ``max_pixels``        -> ``image_too_large`` (decompression bombs
   included: a 12 KB PNG that claims 10000x10000 stops here; Pillow's own bomb check is the
   backstop)
4. width or height < ``min_side``              -> ``image_too_small``
5. decode; truncated or corrupt data           -> ``corrupt_image``
6. mode conversion (below)                     -> ``unsupported_image_mode`` if none applies

Mode handling: the EXIF orientation is applied first (``ImageOps.exif_transpose``), so
coordinates refer to the image as a browser displays it. Greyscale (``L``, ``1``), palette
(``P``), ``CMYK`` and ``YCbCr`` are converted to RGB; alpha (``RGBA``, ``LA``, ``PA``) is
dropped (colour channels used as stored, not composited). 16-bit greyscale (``I;16*``, ``I``)
is scaled to 8 bits (v * 255 / 65535, rounded); 16-bit RGB PNGs are reduced to 8 bits by
Pillow on load. Animated images use their first frame.

Memory: ``probe_image`` estimates, from the header alone, the peak bytes decoding will take
(``bytes_per_pixel`` of the mode: Pillow's own buffer, the RGB conversion, the array and its
copy; measured, e.g. 14 B/px for a 16-bit RGBA PNG, which Pillow stores as 8-bit RGBA). The
pipelines check it against the per-request budget and hold it from the process-wide one
(``service.core.admission.MemoryBudget``) while the full-size image lives. With
``shrink_to``, a JPEG much larger than needed is decoded at 1/2, 1/4 or 1/8 scale (libjpeg's
DCT scaling via Pillow's ``draft``; never below ``shrink_to`` px per side); PNG and WebP have
no such mode and decode at full size (``service.core.memory.release_memory`` then hands
freed heap back to the OS).
"""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass
from typing import Final

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from service.core.errors import InvalidImage, PayloadTooLarge

ACCEPTED_FORMATS: Final = ("JPEG", "PNG", "WEBP")
_TO_RGB_MODES: Final = frozenset(
    {"RGB", "L", "1", "P", "CMYK", "YCbCr", "RGBA", "LA", "PA", "RGBa", "La", "RGBX"}
)
_SIXTEEN_BIT_MODES: Final = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I"})
_DECODE_ERRORS: Final = (OSError, SyntaxError, ValueError, EOFError, zlib.error, IndexError)


def load_codecs() -> None:
    """Import Pillow's format plugins now (about 70 ms) rather than in the first request."""
    Image.init()


def bytes_per_pixel(mode: str) -> int:
    """Peak bytes per pixel of decoding an image of Pillow ``mode`` to the RGB array: Pillow
    stores 1 (``1``, ``L``, ``P``) or 4 bytes per pixel (every other 8-bit mode), converts to
    RGB (4) and the array is built through a packed copy (6); 16/32-bit greyscale goes
    through wide integer arrays (24, measured 19)."""
    if mode in _SIXTEEN_BIT_MODES:
        return 24
    stored = 1 if mode in ("1", "L", "P") else 4
    converted = 0 if mode == "RGB" else 4
    return stored + converted + 6


@dataclass(frozen=True)
class Decoded:
    """``pixels``: uint8 [h, w, 3] RGB, possibly reduced (``shrink_to``); ``width`` x
    ``height``: the posted image's size as displayed (after EXIF orientation)."""

    pixels: np.ndarray
    width: int
    height: int


def _open(
    data: bytes, min_side: int, max_pixels: int, shrink_to: int | None
) -> tuple[Image.Image, tuple[int, int]]:
    """Open and check the header (steps 1-4); JPEGs much larger than ``shrink_to`` are set up
    to decode reduced. Returns the image and its stored (full) size."""
    if not data:
        raise InvalidImage("empty_body", "the request body is empty")
    try:
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except Image.DecompressionBombError as exc:
        raise PayloadTooLarge("image_too_large", f"decompression bomb rejected: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise InvalidImage("not_an_image", "the bytes are not a JPEG, PNG or WebP image") from exc
    except _DECODE_ERRORS as exc:
        raise InvalidImage("corrupt_image", f"the image header cannot be read: {exc}") from exc
    width, height = image.size
    if width * height > max_pixels:
        image.close()
        raise PayloadTooLarge(
            "image_too_large",
            f"image is {width}x{height} = {width * height} pixels, the limit is {max_pixels}",
        )
    if min(width, height) < min_side:
        image.close()
        raise InvalidImage(
            "image_too_small",
            f"image is {width}x{height}, both sides must be at least {min_side} px",
        )
    if shrink_to and image.format == "JPEG" and min(width, height) >= 2 * shrink_to:
        image.draft(None, (shrink_to, shrink_to))
    return image, (width, height)


def probe_image(
    data: bytes, *, min_side: int, max_pixels: int, shrink_to: int | None = None
) -> int:
    """Estimated peak bytes of ``decode`` (header checks included, nothing decoded)."""
    image, _ = _open(data, min_side, max_pixels, shrink_to)
    with image:
        width, height = image.size
        return width * height * bytes_per_pixel(image.mode)


def decode(data: bytes, *, min_side: int, max_pixels: int, shrink_to: int | None = None) -> Decoded:
    """Decode ``data`` to RGB (reduced JPEG decode with ``shrink_to``) or raise
    ``InvalidImage``."""
    image, stored = _open(data, min_side, max_pixels, shrink_to)
    with image:
        try:
            posted = _posted_size(image, *stored)
            image.load()
            # In place: no copy of the (usual) image that has no orientation to apply.
            ImageOps.exif_transpose(image, in_place=True)
        except _DECODE_ERRORS as exc:
            raise InvalidImage(
                "corrupt_image", f"the image data is truncated or corrupt: {exc}"
            ) from exc
        return Decoded(to_rgb_array(image), *posted)


def decode_image(data: bytes, *, min_side: int, max_pixels: int) -> np.ndarray:
    """Decode ``data`` to uint8 [H, W, 3] RGB (C-contiguous) at full size or raise
    ``InvalidImage``."""
    return decode(data, min_side=min_side, max_pixels=max_pixels).pixels


def _posted_size(image: Image.Image, width: int, height: int) -> tuple[int, int]:
    """(width, height) as displayed: EXIF orientations 5-8 swap the axes."""
    orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def to_rgb_array(image: Image.Image) -> np.ndarray:
    """Convert a loaded Pillow image to uint8 [H, W, 3] RGB following the module's rules."""
    if image.mode in _SIXTEEN_BIT_MODES:
        wide = np.asarray(image).astype(np.int64)
        grey = ((np.clip(wide, 0, 65535) * 255 + 32767) // 65535).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))
    if image.mode not in _TO_RGB_MODES:
        raise InvalidImage("unsupported_image_mode", f"image mode {image.mode!r} is not supported")
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))
