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
"""

from __future__ import annotations

import io
import zlib
from typing import Final

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

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


def decode_image(data: bytes, *, min_side: int, max_pixels: int) -> np.ndarray:
    """Decode ``data`` to uint8 [H, W, 3] RGB (C-contiguous) or raise ``InvalidImage``."""
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

    with image:
        width, height = image.size
        if width * height > max_pixels:
            raise PayloadTooLarge(
                "image_too_large",
                f"image is {width}x{height} = {width * height} pixels, the limit is {max_pixels}",
            )
        if min(width, height) < min_side:
            raise InvalidImage(
                "image_too_small",
                f"image is {width}x{height}, both sides must be at least {min_side} px",
            )
        try:
            image.load()
            # In place: no copy of the (usual) image that has no orientation to apply.
            ImageOps.exif_transpose(image, in_place=True)
        except _DECODE_ERRORS as exc:
            raise InvalidImage(
                "corrupt_image", f"the image data is truncated or corrupt: {exc}"
            ) from exc
        return to_rgb_array(image)


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
