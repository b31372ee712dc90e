"""Image header -> format, mode, size, EXIF orientation and JPEG coding process, in bounded work.

Runs on the event loop before any decode, so its work never grows with the input: it reads
the fixed fields of JPEG, PNG and WebP headers itself (no Pillow, whose readers walk every
marker, fill byte, stray byte and chunk in Python) and refuses, with a code, what no camera
or encoder writes:

- JPEG: at most ``MAX_JPEG_SEGMENTS`` marker segments before the first scan, at most
  ``MAX_FILL_BYTES`` 0xFF fill bytes in all, and nothing but a marker where a marker belongs
  (stray bytes, which decoders skip one by one) -> ``unsupported_image_header`` or
  ``corrupt_image``. Segment bodies are skipped by their length, never scanned; only the
  first EXIF segment is parsed, and of its first IFD at most ``MAX_IFD_ENTRIES`` entries.
- PNG: at most ``MAX_PNG_CHUNKS`` chunks before the image data.
- WebP: the first chunk gives the size; the EXIF chunk is looked for, among at most
  ``MAX_WEBP_CHUNKS`` chunks, only when the extended header says there is one.

JPEG coding processes (ITU T.81, the SOF marker): only the DCT Huffman processes of 8-bit
samples (SOF0 baseline, SOF1 extended, SOF2 progressive) are decoded; they are the only ones
the decoders may also scale (``Header.can_scale``). Lossless (SOF3), hierarchical (SOF5-7,
SOF13-15), arithmetic-coded (SOF9-11) and 12- or 16-bit samples are ``unsupported_image_mode``
before any pixel is decoded (libjpeg-turbo's DCT-scaled decode of a lossless JPEG writes past
its output buffer; no camera writes these processes). A frame of height 0 (a height given
later by a DNL marker, which libjpeg cannot read) or width 0 is ``corrupt_image``; a
component count other than 1, 3 or 4 is ``unsupported_image_mode``.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Final

from service.core.errors import InvalidImage

# A camera's JPEG has about 10-40 segments before its scan (APP0/1/2 with EXIF, XMP, ICC in
# up to a few dozen 64 KB parts, MPF, DQT, DHT, SOF, DRI); a PNG about 5-20 chunks before IDAT;
# an animated WebP one chunk per frame before its EXIF.
MAX_JPEG_SEGMENTS: Final = 512
MAX_FILL_BYTES: Final = 256
MAX_PNG_CHUNKS: Final = 512
MAX_WEBP_CHUNKS: Final = 1024
MAX_IFD_ENTRIES: Final = 512

# The JPEG processes decoded (the Huffman DCT ones), by SOF marker.
DCT_HUFFMAN: Final = {0xC0: "baseline", 0xC1: "extended", 0xC2: "progressive"}
# Every other SOF marker and the process it starts (T.81 table B.1).
OTHER_PROCESSES: Final = {
    0xC3: "lossless",
    0xC5: "hierarchical sequential",
    0xC6: "hierarchical progressive",
    0xC7: "hierarchical lossless",
    0xC9: "arithmetic extended",
    0xCA: "arithmetic progressive",
    0xCB: "arithmetic lossless",
    0xCD: "hierarchical arithmetic sequential",
    0xCE: "hierarchical arithmetic progressive",
    0xCF: "hierarchical arithmetic lossless",
}
_JPEG_MODES: Final = {1: "L", 3: "RGB", 4: "CMYK"}
# PNG (bit depth, colour type) -> Pillow's mode for it (what ``bytes_per_pixel`` reads).
_PNG_MODES: Final = {
    (1, 0): "1", (2, 0): "L", (4, 0): "L", (8, 0): "L", (16, 0): "I;16",
    (8, 2): "RGB", (16, 2): "RGB",
    (1, 3): "P", (2, 3): "P", (4, 3): "P", (8, 3): "P",
    (8, 4): "LA", (16, 4): "RGBA",
    (8, 6): "RGBA", (16, 6): "RGBA",
}  # fmt: skip
_PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
_ORIENTATION_TAG: Final = 0x0112


@dataclass(frozen=True)
class HeaderFields:
    """What the header says: ``format`` (JPEG, PNG, WEBP), Pillow's name for its ``mode``,
    the stored size, the EXIF ``orientation`` (1-8) and the JPEG coding ``process``
    (``baseline``, ``extended``, ``progressive``; "" for other formats)."""

    format: str
    mode: str
    width: int
    height: int
    orientation: int = 1
    process: str = ""


def sniff(data: bytes) -> str | None:
    """The format the leading bytes name (JPEG, PNG, WEBP), or None."""
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if data[:8] == _PNG_SIGNATURE:
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def read_header(data: bytes) -> HeaderFields:
    """The header's fields, or ``InvalidImage`` (``not_an_image``, ``corrupt_image``,
    ``unsupported_image_mode``, ``unsupported_image_header``). Bounded work whatever ``data``."""
    image_format = sniff(data)
    if image_format is None:
        raise InvalidImage("not_an_image", "the bytes are not a JPEG, PNG or WebP image")
    try:
        if image_format == "JPEG":
            return _jpeg(data)
        if image_format == "PNG":
            return _png(data)
        return _webp(data)
    except (struct.error, IndexError) as exc:  # a field cut short by the end of the data
        raise _corrupt(f"the {image_format} header is truncated") from exc


def _corrupt(message: str) -> InvalidImage:
    return InvalidImage("corrupt_image", message)


def _too_complex(message: str) -> InvalidImage:
    return InvalidImage("unsupported_image_header", message)


def _jpeg(data: bytes) -> HeaderFields:
    pos, segments, fill = 2, 0, 0
    frame: HeaderFields | None = None
    orientation: int | None = None
    while True:
        if data[pos] != 0xFF:
            raise _corrupt(f"the JPEG has stray bytes where a marker belongs (offset {pos})")
        while data[pos + 1] == 0xFF:  # fill bytes before a marker
            pos += 1
            fill += 1
            if fill > MAX_FILL_BYTES:
                raise _too_complex(f"the JPEG header has more than {MAX_FILL_BYTES} fill bytes")
        marker = data[pos + 1]
        if marker == 0x01 or 0xD0 <= marker <= 0xD9:  # TEM, RSTn, SOI, EOI: no scan yet
            raise _corrupt(f"the JPEG has marker 0xFF{marker:02X} before its image data")
        if marker == 0x00:
            raise _corrupt(f"the JPEG has a stuffed 0xFF00 where a marker belongs (offset {pos})")
        segments += 1
        if segments > MAX_JPEG_SEGMENTS:
            raise _too_complex(
                f"the JPEG has more than {MAX_JPEG_SEGMENTS} marker segments before its image data"
            )
        (length,) = struct.unpack_from(">H", data, pos + 2)
        body = data[pos + 4 : pos + 2 + length]
        if length < 2 or len(body) != length - 2:
            raise _corrupt("the JPEG header is truncated or has a bad segment length")
        if marker == 0xDA:  # start of scan: the header ends here
            if frame is None:
                raise _corrupt("the JPEG has image data before its frame header (SOF)")
            return frame if orientation is None else _with_orientation(frame, orientation)
        if marker in DCT_HUFFMAN or marker in OTHER_PROCESSES:
            if frame is not None:
                raise _corrupt("the JPEG has two frame headers (SOF)")
            frame = _jpeg_frame(marker, body)
        elif marker == 0xE1 and orientation is None and body[:6] == b"Exif\x00\x00":
            orientation = _exif_orientation(body[6:])
        pos += 2 + length


def _jpeg_frame(marker: int, body: bytes) -> HeaderFields:
    precision, height, width, components = struct.unpack_from(">BHHB", body)
    if len(body) != 6 + 3 * components:
        raise _corrupt(f"the JPEG frame header's length does not fit {components} components")
    process = DCT_HUFFMAN.get(marker)
    if process is None:
        raise InvalidImage(
            "unsupported_image_mode",
            f"{OTHER_PROCESSES[marker]} JPEG (SOF{marker - 0xC0}) is not supported: "
            "send a baseline or progressive JPEG",
        )
    if precision != 8:
        raise InvalidImage(
            "unsupported_image_mode",
            f"{precision}-bit JPEG samples are not supported: send an 8-bit JPEG",
        )
    if width == 0 or height == 0:
        raise _corrupt(f"the JPEG frame header says {width}x{height}")
    mode = _JPEG_MODES.get(components)
    if mode is None:
        if components == 0:
            raise _corrupt("the JPEG frame header declares no component")
        raise InvalidImage(
            "unsupported_image_mode",
            f"JPEG with {components} components is not supported (1, 3 or 4)",
        )
    return HeaderFields("JPEG", mode, width, height, 1, process)


def _with_orientation(fields: HeaderFields, orientation: int) -> HeaderFields:
    return HeaderFields(
        fields.format, fields.mode, fields.width, fields.height, orientation, fields.process
    )


def _exif_orientation(tiff: bytes) -> int:
    """The Orientation tag of the first IFD of TIFF-structured EXIF ``tiff`` (1 when absent
    or unreadable: shown as stored, as browsers do)."""
    try:
        order = {b"II": "<", b"MM": ">"}[tiff[:2]]
        magic, ifd = struct.unpack_from(order + "HI", tiff, 2)
        if magic != 42:
            return 1
        (count,) = struct.unpack_from(order + "H", tiff, ifd)
        for entry in range(min(count, MAX_IFD_ENTRIES)):
            offset = ifd + 2 + 12 * entry
            tag, kind, values = struct.unpack_from(order + "HHI", tiff, offset)
            if tag != _ORIENTATION_TAG:
                continue
            if values != 1 or kind not in (3, 4):  # SHORT or LONG, one value
                return 1
            (value,) = struct.unpack_from(order + ("H" if kind == 3 else "I"), tiff, offset + 8)
            return value if 1 <= value <= 8 else 1
    except (KeyError, struct.error):
        return 1
    return 1


def _png(data: bytes) -> HeaderFields:
    length, kind = struct.unpack_from(">I4s", data, 8)
    if kind != b"IHDR" or length != 13:
        raise InvalidImage("not_an_image", "the PNG does not start with its IHDR chunk")
    width, height, depth, colour, compression, filtering, interlace, crc = struct.unpack_from(
        ">IIBBBBBI", data, 16
    )
    if zlib.crc32(data[12:29]) != crc:
        raise _corrupt("the PNG's IHDR chunk fails its CRC")
    mode = _PNG_MODES.get((depth, colour))
    if mode is None:
        raise _corrupt(f"PNG bit depth {depth} with colour type {colour} does not exist")
    if compression != 0 or filtering != 0 or interlace not in (0, 1):
        raise _corrupt("the PNG's IHDR names a compression, filter or interlace method that "
                       "does not exist")  # fmt: skip
    if width == 0 or height == 0:
        raise _corrupt(f"the PNG header says {width}x{height}")
    pos, orientation = 33, 1
    for _ in range(MAX_PNG_CHUNKS):
        length, kind = struct.unpack_from(">I4s", data, pos)
        # A chunk, the first IDAT included, must end inside the data: OpenCV's reader
        # allocates a first IDAT's claimed length (1 GiB for a flipped bit) before reading it.
        if length > 0x7FFFFFFF or pos + 12 + length > len(data):
            raise _corrupt("the PNG header is truncated or has a bad chunk length")
        if kind == b"IDAT":
            return HeaderFields("PNG", mode, width, height, orientation)
        if kind == b"eXIf" and orientation == 1:
            exif = data[pos + 8 : pos + 8 + length]
            orientation = _exif_orientation(exif.removeprefix(b"Exif\x00\x00"))
        pos += 12 + length
    raise _too_complex(f"the PNG has more than {MAX_PNG_CHUNKS} chunks before its image data")


def _webp(data: bytes) -> HeaderFields:
    kind = data[12:16]
    (length,) = struct.unpack_from("<I", data, 16)
    chunk = data[20 : 20 + length]
    if kind == b"VP8 ":
        tag = chunk[0] | chunk[1] << 8 | chunk[2] << 16
        if tag & 1 or chunk[3:6] != b"\x9d\x01\x2a":
            raise _corrupt("the WebP's lossy bitstream does not start with a key frame")
        width, height = struct.unpack_from("<HH", chunk, 6)
        return _webp_fields("RGB", width & 0x3FFF, height & 0x3FFF)
    if kind == b"VP8L":
        if chunk[0] != 0x2F:
            raise _corrupt("the WebP's lossless bitstream has a bad signature")
        (bits,) = struct.unpack_from("<I", chunk, 1)
        alpha = "RGBA" if bits >> 28 & 1 else "RGB"
        return _webp_fields(alpha, (bits & 0x3FFF) + 1, (bits >> 14 & 0x3FFF) + 1)
    if kind == b"VP8X":
        if len(chunk) < 10:
            raise _corrupt("the WebP header is truncated")
        flags = chunk[0]
        width = int.from_bytes(chunk[4:7], "little") + 1
        height = int.from_bytes(chunk[7:10], "little") + 1
        orientation = _webp_exif_orientation(data, 20 + length + (length & 1)) if flags & 8 else 1
        return _webp_fields("RGBA" if flags & 0x10 else "RGB", width, height, orientation)
    raise InvalidImage("not_an_image", f"the WebP's first chunk is {kind!r}")


def _webp_fields(mode: str, width: int, height: int, orientation: int = 1) -> HeaderFields:
    if width == 0 or height == 0:
        raise _corrupt(f"the WebP header says {width}x{height}")
    return HeaderFields("WEBP", mode, width, height, orientation)


def _webp_exif_orientation(data: bytes, pos: int) -> int:
    for _ in range(MAX_WEBP_CHUNKS):
        if pos + 8 > len(data):
            return 1  # no EXIF chunk after all: shown as stored
        kind = data[pos : pos + 4]
        (length,) = struct.unpack_from("<I", data, pos + 4)
        if kind == b"EXIF":
            exif = data[pos + 8 : pos + 8 + length]
            return _exif_orientation(exif.removeprefix(b"Exif\x00\x00"))
        pos += 8 + length + (length & 1)
    raise _too_complex(f"the WebP has more than {MAX_WEBP_CHUNKS} chunks before its EXIF")
