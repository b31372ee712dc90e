"""header: the bounded header reader reads what Pillow reads from every real image, classifies
every JPEG coding process before any decode, and refuses hostile headers after a bounded
prefix of the bytes (checked by the answer being the same for that prefix alone)."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from service.core.errors import InvalidImage, PayloadTooLarge
from service.processing.decode import MAX_SIDE, Header, probe
from service.processing.header import (
    MAX_FILL_BYTES,
    MAX_JPEG_SEGMENTS,
    MAX_PNG_CHUNKS,
    HeaderFields,
    read_header,
)
from tests.service.imagekit import DATA, crop_array, encode, raw_png
from tools.decode_matrix import jpeg_cases

LIMITS = {"min_side": 32, "max_pixels": 16_000_000}


def _pillow(data: bytes) -> HeaderFields:
    with Image.open(io.BytesIO(data)) as image:
        orientation = int(image.getexif().get(0x0112, 1))
        return HeaderFields(
            str(image.format), image.mode, *image.size, orientation if 1 <= orientation <= 8 else 1
        )


def _without_process(fields: HeaderFields) -> HeaderFields:
    return HeaderFields(fields.format, fields.mode, fields.width, fields.height, fields.orientation)


def _real_images() -> list[tuple[str, bytes]]:
    files = sorted((DATA / "frames").glob("*")) + sorted((DATA / "crops").glob("*.png"))[:5]
    return [(path.name, path.read_bytes()) for path in files if path.suffix in (".jpg", ".png")]


def _variants() -> list[tuple[str, bytes]]:
    rgb = np.asarray(Image.fromarray(crop_array("lenna_face0")).resize((97, 61)))
    out: list[tuple[str, bytes]] = []
    for fmt in ("JPEG", "PNG", "WEBP"):
        for orientation in range(1, 9):
            exif = Image.Exif()
            exif[0x0112] = orientation
            out.append((f"{fmt}-exif-{orientation}", encode(rgb, fmt, exif=exif)))
    out.append(("jpeg-progressive", encode(rgb, "JPEG", progressive=True)))
    out.append(("jpeg-grey", encode(rgb[:, :, 0], "JPEG")))
    out.append(("jpeg-cmyk", encode(Image.fromarray(rgb).convert("CMYK"), "JPEG")))
    out.append(("webp-lossless", encode(rgb, "WEBP", lossless=True)))
    out.append(("webp-alpha", encode(Image.fromarray(rgb).convert("RGBA"), "WEBP")))
    for depth, colour in [(1, 0), (2, 0), (4, 0), (8, 0), (16, 0), (8, 2), (16, 2), (8, 4),
                          (16, 4), (8, 6), (16, 6)]:  # fmt: skip
        out.append((f"png-{depth}-{colour}", raw_png(40, 33, depth, colour, None)))
    out.append(("png-palette", encode(Image.fromarray(rgb).convert("P"))))
    frames = [Image.fromarray(np.full((64, 80, 3), v, np.uint8)) for v in (10, 200)]
    for fmt in ("PNG", "WEBP"):
        buffer = io.BytesIO()
        frames[0].save(buffer, fmt, save_all=True, append_images=frames[1:])
        out.append((f"{fmt}-animated", buffer.getvalue()))
    return out


@pytest.mark.parametrize(("name", "data"), _real_images() + _variants(), ids=lambda v: str(v)[:30])
def test_reads_what_pillow_reads(name: str, data: bytes) -> None:
    assert _without_process(read_header(data)) == _pillow(data), name


@pytest.mark.parametrize(("name", "case"), list(jpeg_cases().items()))
def test_every_jpeg_process_is_classified_before_decoding(
    name: str, case: tuple[bytes, str | None]
) -> None:
    data, expected = case
    if expected is None:
        header = probe(data, **LIMITS)
        assert header.can_scale() and header.process in ("baseline", "extended", "progressive")
        return
    if name == "sof0-huffman-claims-3999" or name.startswith("lossless-data-as"):
        return  # header fine, data broken: only decoding tells (tests/service/test_hostile_corpus)
    with pytest.raises(InvalidImage) as raised:
        probe(data, **LIMITS)
    assert raised.value.code == expected, raised.value.message


def test_only_huffman_dct_jpegs_may_scale() -> None:
    for process in ("lossless", "arithmetic extended", "hierarchical sequential", ""):
        assert not Header("JPEG", "RGB", 800, 800, 1, process).can_scale()
    assert Header("JPEG", "RGB", 800, 800, 1, "progressive").can_scale()


def _baseline() -> bytes:
    return encode(crop_array("lenna_face0"), "JPEG", quality=90)


def _flood_jpeg(segment: bytes, count: int) -> bytes:
    base = _baseline()
    return base[:2] + segment * count + base[2:]


def _refusal(data: bytes) -> tuple[str, str]:
    with pytest.raises(InvalidImage) as raised:
        read_header(data)
    return raised.value.code, raised.value.message


@pytest.mark.parametrize(
    ("name", "data", "prefix"),
    [
        ("app15", _flood_jpeg(b"\xff\xef\x00\x02", 200_000), 2 + 4 * (MAX_JPEG_SEGMENTS + 1)),
        ("com", _flood_jpeg(b"\xff\xfe\x00\x02", 200_000), 2 + 4 * (MAX_JPEG_SEGMENTS + 1)),
        ("fill", _flood_jpeg(b"\xff", 800_000), 2 + MAX_FILL_BYTES + 2),
    ],
)
def test_jpeg_header_floods_are_refused_after_a_bounded_prefix(
    name: str, data: bytes, prefix: int
) -> None:
    code, message = _refusal(data)
    assert code == "unsupported_image_header", name
    assert _refusal(data[:prefix]) == (code, message)  # the rest was never looked at


def _png_chunk(kind: bytes, data: bytes = b"") -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def _png_with(offset: int, value: int) -> bytes:
    """A valid PNG with byte ``offset`` set to ``value`` (the IHDR CRC kept right)."""
    data = bytearray(raw_png(64, 64, 8, 2, None))
    data[offset] = value
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def _flood_png(count: int) -> bytes:
    png = raw_png(64, 64, 8, 2, None)
    return png[:33] + _png_chunk(b"prVt") * count + png[33:]


def test_png_chunk_flood_is_refused_after_a_bounded_prefix() -> None:
    data = _flood_png(300_000)
    code, message = _refusal(data)
    assert code == "unsupported_image_header"
    assert _refusal(data[: 33 + 12 * MAX_PNG_CHUNKS]) == (code, message)


def test_the_limits_admit_what_encoders_write() -> None:
    # Right at each limit the image is read; one more is refused.
    assert read_header(_flood_jpeg(b"\xff\xfe\x00\x02", MAX_JPEG_SEGMENTS - 20)).width == 192
    ok_png = _flood_png(MAX_PNG_CHUNKS - 1)
    assert read_header(ok_png).width == 64
    with pytest.raises(InvalidImage):
        read_header(_flood_png(MAX_PNG_CHUNKS))
    base = _baseline()
    assert read_header(base[:2] + b"\xff" * MAX_FILL_BYTES + base[2:]).width == 192
    with pytest.raises(InvalidImage):
        read_header(base[:2] + b"\xff" * (MAX_FILL_BYTES + 1) + base[2:])


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (_baseline()[:20] + b"\x00" * 1000 + _baseline()[20:], "corrupt_image"),  # after APP0
        (_baseline()[:40], "corrupt_image"),  # cut inside the header
        (b"\xff\xd8\xff\xd9", "corrupt_image"),  # EOI before any frame
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "not_an_image"),
        (raw_png(64, 64, 3, 2, None), "corrupt_image"),  # no such bit depth
        (raw_png(64, 64, 8, 2, None)[:40], "corrupt_image"),
        (b"RIFF\x00\x00\x00\x00WEBPJUNK" + b"\x00" * 30, "not_an_image"),
        # The first IDAT claims 1 GiB more than the data holds (OpenCV allocated it).
        (_png_with(33, 0x40), "corrupt_image"),
        (_png_with(27, 0x10), "corrupt_image"),  # filter method 16
        (
            raw_png(64, 64, 8, 2, None)[:28] + b"\x01" + raw_png(64, 64, 8, 2, None)[29:],
            "corrupt_image",
        ),  # interlace 1 without the CRC following
    ],
    ids=[
        "stray-bytes",
        "cut-header",
        "eoi-first",
        "png-no-ihdr",
        "png-depth-3",
        "png-cut",
        "webp-unknown-chunk",
        "png-idat-past-the-end",
        "png-filter-16",
        "png-ihdr-crc",
    ],
)
def test_broken_headers(data: bytes, code: str) -> None:
    assert _refusal(data)[0] == code


@pytest.mark.parametrize(("width", "height"), [(32767, 32), (32, 32767), (40000, 40)])
def test_a_side_over_opencvs_limit_is_too_large(width: int, height: int) -> None:
    with pytest.raises(PayloadTooLarge) as raised:
        probe(raw_png(width, height, 1, 0, None), **LIMITS)
    assert raised.value.code == "image_too_large" and str(MAX_SIDE) in raised.value.message


def test_the_longest_side_allowed_is_read() -> None:
    assert probe(raw_png(MAX_SIDE, 32, 1, 0, None), **LIMITS).width == MAX_SIDE == 32766


def test_fixtures_are_what_their_names_say() -> None:
    folder = DATA / "jpeg_processes"
    names = sorted(path.name for path in folder.glob("*.jpg.gz"))
    assert len(names) == 5 and Path(folder / "generate.py").is_file()
