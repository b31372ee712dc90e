"""Image bytes -> uint8 [H, W, 3] RGB, rejecting anything unusable before it costs memory.

Order of checks (all before any pixel is decoded, except the last two):

1. empty body                                  -> ``empty_body``
2. format sniffed from the bytes, JPEG/PNG/WebP only (not the declared type) -> ``not_an_image``;
   the header read in bounded work (``service.processing.header``): a broken header
   -> ``corrupt_image``, more segments, chunks or fill bytes than any encoder writes
   -> ``unsupported_image_header``, a JPEG process other than 8-bit Huffman DCT (lossless,
   arithmetic, hierarchical, 12-bit) or a component count other than 1, 3, 4
   -> ``unsupported_image_mode``
3. header width*height > ``max_pixels``, or a side over ``MAX_SIDE`` (OpenCV's limit)
                                               -> ``image_too_large`` (decompression bombs
   included: a 12 KB PNG that claims 10000x10000 stops here; Pillow's own bomb check is the
   backstop)
4. width or height < ``min_side``              -> ``image_too_small``
5. decode; truncated or corrupt data           -> ``corrupt_image`` (also when the decoder
   reads another size from the bytes than the header check did)
6. mode conversion (below)                     -> ``unsupported_image_mode`` if none applies

Decoders (``docs/ARCHITECTURE.md`` "Decoding" has the measurements): the header is read by
``service.processing.header`` (``probe``: steps 1-4, the EXIF orientation, no pixels).
Pixels are decoded straight into NumPy, never through a Pillow image and a ``tobytes`` copy:
JPEG by libjpeg-turbo through ``simplejpeg`` (its own wheel), which also decodes DCT-scaled
(``eighths``: n/8 of the size, n in 1, 2, 4, 8, every output pixel the mean of a k x k block
of the full image, k = 8/n; Huffman DCT processes only, ``Header.can_scale``); PNG and WebP
by OpenCV's ``imdecode``. Pillow remains the decoder of what these two do not
take with our rules: CMYK JPEGs and 16-bit greyscale PNGs.

Mode handling: the EXIF orientation is applied after decoding, so coordinates refer to the
image as a browser displays it. Greyscale, palette, CMYK and YCbCr are converted to RGB; alpha
is dropped (colour channels used as stored, not composited). 16-bit greyscale is scaled to 8
bits (v * 255 / 65535, rounded); 16-bit RGB is reduced to its high byte. Animated images use
their first frame.

Memory: ``Header.cost`` estimates, from the header alone, the peak bytes decoding will take at
a given scale (``bytes_per_pixel``). The pipelines check it against the per-request limit and
hold it from the process-wide budget (``service.pipelines.decode_budget``) while the pixels
live.
"""

from __future__ import annotations

import io
import math
import zlib
from dataclasses import dataclass
from typing import Final

import cv2
import numpy as np
import simplejpeg
from PIL import Image

from service.core.errors import InvalidImage, PayloadTooLarge
from service.processing.header import DCT_HUFFMAN, read_header

ACCEPTED_FORMATS: Final = ("JPEG", "PNG", "WEBP")
# The JPEG processes decoded DCT-scaled: Huffman DCT, 8-bit (SOF0, SOF1, SOF2).
SCALABLE_PROCESSES: Final = frozenset(DCT_HUFFMAN.values())
# The longest side any decode path takes: OpenCV's warps and remaps refuse 32767 px or more
# (SHRT_MAX); libjpeg's own limit is 65500, WebP's 16383.
MAX_SIDE: Final = 32766
# libjpeg's DCT scales the frame and crop paths use: n/8 of the full size.
EIGHTHS: Final = (8, 4, 2, 1)
_TO_RGB_MODES: Final = frozenset(
    {"RGB", "L", "1", "P", "CMYK", "YCbCr", "RGBA", "LA", "PA", "RGBa", "La", "RGBX"}
)
_SIXTEEN_BIT_MODES: Final = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I"})
_DECODE_ERRORS: Final = (OSError, SyntaxError, ValueError, EOFError, zlib.error, IndexError)
# OpenCV: RGB order straight from the codec; the orientation is ours to apply (from Pillow's
# reading of the header), so both decoders follow the same rule.
_IMDECODE_FLAGS: Final = cv2.IMREAD_COLOR_RGB | cv2.IMREAD_IGNORE_ORIENTATION


def load_codecs() -> None:
    """Import Pillow's format plugins now (about 70 ms) rather than in the first request."""
    Image.init()


def bytes_per_pixel(mode: str, image_format: str = "PNG") -> int:
    """Peak bytes per decoded pixel of an image of Pillow ``mode`` and ``image_format``, an
    upper bound of the peak RSS measured decoding 12 MP images (``docs/ARCHITECTURE.md``).

    JPEG through simplejpeg: the RGB array (3) and the EXIF orientation's copy (3): 6
    (measured 3.1 without orientation). PNG and WebP through OpenCV: the codec's array and
    the colour-order copy, with its row buffers: 7 (measured 6.2 for PNG, 16-bit RGBA too,
    5.5 for WebP). Through Pillow (CMYK JPEGs): Pillow's buffer, the RGB conversion and the
    array: 15 (measured 14.1); 16-bit greyscale goes through wide integer arrays (24,
    measured 19)."""
    if mode in _SIXTEEN_BIT_MODES:
        return 24
    if _uses_pillow(mode, image_format):
        return 15
    return 6 if image_format == "JPEG" else 7


def _uses_pillow(mode: str, image_format: str) -> bool:
    return mode in _SIXTEEN_BIT_MODES or (image_format == "JPEG" and mode == "CMYK")


@dataclass(frozen=True)
class Header:
    """What the header says: ``format`` (JPEG, PNG, WEBP), Pillow ``mode``, the stored size,
    the EXIF ``orientation`` (1-8; 1: as stored) and, for JPEG, the coding ``process``
    (``header.DCT_HUFFMAN``: the only processes probed without an error)."""

    format: str
    mode: str
    width: int
    height: int
    orientation: int = 1
    process: str = "baseline"

    @property
    def posted_size(self) -> tuple[int, int]:
        """(width, height) as displayed: orientations 5-8 swap the axes."""
        swapped = self.orientation in (5, 6, 7, 8)
        return (self.height, self.width) if swapped else (self.width, self.height)

    def can_scale(self) -> bool:
        """Whether a DCT-scaled decode is possible: a Huffman DCT JPEG (SOF0/1/2) decoded by
        libjpeg-turbo. No other JPEG process is ever scaled (libjpeg-turbo's scaled decode of
        a lossless JPEG writes past its output buffer)."""
        return (
            self.format == "JPEG"
            and self.process in SCALABLE_PROCESSES
            and not _uses_pillow(self.mode, self.format)
        )

    def scaled_size(self, eighths: int) -> tuple[int, int]:
        """Stored (width, height) decoded at ``eighths``/8 (libjpeg rounds up)."""
        return math.ceil(self.width * eighths / 8), math.ceil(self.height * eighths / 8)

    def cost(self, eighths: int = 8) -> int:
        """Estimated peak bytes of decoding at ``eighths``/8 of the size."""
        width, height = self.scaled_size(eighths if self.can_scale() else 8)
        return width * height * bytes_per_pixel(self.mode, self.format)

    def shrink_eighths(self, shrink_to: int | None) -> int:
        """The DCT scale of a crop decode: the smallest n/8 (1/8, 1/4, 1/2) that keeps both
        sides >= ``shrink_to``, only for JPEGs at least twice that on the short side (as
        Pillow's ``draft`` picked it); 8 (full size) otherwise."""
        if not shrink_to or not self.can_scale() or min(self.width, self.height) < 2 * shrink_to:
            return 8
        factor = min(self.width // shrink_to, self.height // shrink_to)
        return next(n for n in EIGHTHS[::-1] if 8 // n <= factor)


@dataclass(frozen=True)
class Decoded:
    """``pixels``: uint8 [h, w, 3] RGB, possibly reduced; ``width`` x ``height``: the posted
    image's size as displayed (after EXIF orientation); ``eighths``: the decode's scale, n/8
    (8: full size; a posted pixel-edge coordinate x is x * n / 8 in ``pixels``)."""

    pixels: np.ndarray
    width: int
    height: int
    eighths: int = 8


def probe(data: bytes, *, min_side: int, max_pixels: int) -> Header:
    """Header checks (steps 1-4), nothing decoded; bounded work whatever the input
    (``service.processing.header``)."""
    if not data:
        raise InvalidImage("empty_body", "the request body is empty")
    fields = read_header(data)
    width, height = fields.width, fields.height
    if width * height > max_pixels:
        raise PayloadTooLarge(
            "image_too_large",
            f"image is {width}x{height} = {width * height} pixels, the limit is {max_pixels}",
        )
    if max(width, height) > MAX_SIDE:
        raise PayloadTooLarge(
            "image_too_large", f"image is {width}x{height}, no side may exceed {MAX_SIDE} px"
        )
    if min(width, height) < min_side:
        raise InvalidImage(
            "image_too_small",
            f"image is {width}x{height}, both sides must be at least {min_side} px",
        )
    return Header(fields.format, fields.mode, width, height, fields.orientation, fields.process)


def probe_image(
    data: bytes, *, min_side: int, max_pixels: int, shrink_to: int | None = None
) -> int:
    """Estimated peak bytes of ``decode`` (header checks included, nothing decoded)."""
    header = probe(data, min_side=min_side, max_pixels=max_pixels)
    return header.cost(header.shrink_eighths(shrink_to))


def decode(
    data: bytes,
    *,
    min_side: int,
    max_pixels: int,
    shrink_to: int | None = None,
    header: Header | None = None,
    eighths: int | None = None,
) -> Decoded:
    """Decode ``data`` to RGB or raise ``InvalidImage``. ``header``: this payload's ``probe``
    (None: probed here); ``eighths`` (JPEG only, else ignored): the DCT scale, n/8; None: the
    crop rule of ``shrink_to`` (``Header.shrink_eighths``)."""
    if header is None:
        header = probe(data, min_side=min_side, max_pixels=max_pixels)
    if eighths is None:
        eighths = header.shrink_eighths(shrink_to)
    if not header.can_scale():
        eighths = 8
    if eighths not in EIGHTHS:
        raise ValueError(f"eighths must be one of {EIGHTHS}, got {eighths}")
    try:
        if _uses_pillow(header.mode, header.format):
            stored = _decode_pillow(data)
        elif header.format == "JPEG":
            stored = _decode_jpeg(data, header, eighths)
        else:
            stored = _decode_opencv(data)
    except _DECODE_ERRORS as exc:
        raise InvalidImage(
            "corrupt_image", f"the image data is truncated or corrupt: {exc}"
        ) from exc
    expected = header.scaled_size(eighths)
    if (stored.shape[1], stored.shape[0]) != expected:
        raise InvalidImage(
            "corrupt_image",
            f"the image data decodes to {stored.shape[1]}x{stored.shape[0]}, its header "
            f"says {expected[0]}x{expected[1]}",
        )
    return Decoded(_orient(stored, header.orientation), *header.posted_size, eighths)


def decode_image(data: bytes, *, min_side: int, max_pixels: int) -> np.ndarray:
    """Decode ``data`` to uint8 [H, W, 3] RGB (C-contiguous) at full size or raise
    ``InvalidImage``."""
    return decode(data, min_side=min_side, max_pixels=max_pixels, eighths=8).pixels


def _decode_jpeg(data: bytes, header: Header, eighths: int) -> np.ndarray:
    """libjpeg-turbo (simplejpeg) at ``eighths``/8; warnings (a truncated scan) are errors.
    Its own reading of the size must be the one the header checks saw."""
    height, width, _, _ = simplejpeg.decode_jpeg_header(data)
    if (width, height) != (header.width, header.height):
        raise ValueError(f"the JPEG frame is {width}x{height}, not {header.width}x{header.height}")
    scaled_w, scaled_h = header.scaled_size(eighths)
    return np.asarray(
        simplejpeg.decode_jpeg(
            data,
            colorspace="RGB",
            min_width=scaled_w,
            min_height=scaled_h,
            min_factor=8 / eighths,
            strict=True,
        )
    )


def _decode_opencv(data: bytes) -> np.ndarray:
    """PNG and WebP through OpenCV (first frame of an animation); None means corrupt."""
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), _IMDECODE_FLAGS)
    if pixels is None:
        raise ValueError("the decoder rejected the data")
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise ValueError(f"unexpected decoded layout {pixels.dtype} {pixels.shape}")
    return np.asarray(pixels)


def _decode_pillow(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS) as image:
        image.load()
        return to_rgb_array(image)


# EXIF orientation -> the view of the stored array as displayed (Pillow's exif_transpose).
_ORIENT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: a.transpose(1, 0, 2)[:, ::-1],
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
    8: lambda a: a.transpose(1, 0, 2)[::-1],
}


def _orient(pixels: np.ndarray, orientation: int) -> np.ndarray:
    turn = _ORIENT.get(orientation)
    if turn is None:
        return np.ascontiguousarray(pixels)
    return np.ascontiguousarray(turn(pixels))


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
