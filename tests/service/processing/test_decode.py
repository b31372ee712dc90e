"""decode_image: accepted formats and modes, and every rejection with its error code."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from service.core.errors import InvalidImage, PayloadTooLarge
from service.processing.decode import (
    bytes_per_pixel,
    decode,
    decode_image,
    probe_image,
    to_rgb_array,
)
from tests.service.imagekit import crop_array, crop_bytes, encode, png16_grey, png16_rgb, raw_png

LIMITS = {"min_side": 32, "max_pixels": 1_000_000}
CROP = "lenna_face0"


def test_png_crop_decodes_to_exact_pixels() -> None:
    decoded = decode_image(crop_bytes(CROP), **LIMITS)
    assert decoded.dtype == np.uint8
    assert decoded.shape == (192, 192, 3)
    assert decoded.flags.c_contiguous
    np.testing.assert_array_equal(decoded, crop_array(CROP))


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
def test_lossy_formats_decode_close_to_source(fmt: str) -> None:
    rgb = crop_array(CROP)
    decoded = decode_image(encode(rgb, fmt, quality=95), **LIMITS)
    assert decoded.shape == rgb.shape
    assert np.abs(decoded.astype(int) - rgb).mean() < 4


def test_greyscale_is_replicated_to_three_channels() -> None:
    grey = np.asarray(Image.fromarray(crop_array(CROP)).convert("L"))
    decoded = decode_image(encode(grey), **LIMITS)
    for channel in range(3):
        np.testing.assert_array_equal(decoded[:, :, channel], grey)


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_alpha_is_dropped_not_composited(mode: str) -> None:
    base = Image.fromarray(crop_array(CROP)).convert(mode[:-1] if mode == "LA" else "RGB")
    with_alpha = base.convert(mode)
    with_alpha.putalpha(0)  # fully transparent: compositing would change every pixel
    decoded = decode_image(encode(with_alpha), **LIMITS)
    np.testing.assert_array_equal(decoded, np.asarray(base.convert("RGB")))


def test_palette_image_is_converted() -> None:
    palette = Image.fromarray(crop_array(CROP)).convert("P")
    decoded = decode_image(encode(palette), **LIMITS)
    np.testing.assert_array_equal(decoded, np.asarray(palette.convert("RGB")))


def test_sixteen_bit_greyscale_is_scaled_to_eight_bits() -> None:
    grey = np.asarray(Image.fromarray(crop_array(CROP)).convert("L"))
    decoded = decode_image(png16_grey(grey), **LIMITS)
    np.testing.assert_array_equal(decoded, np.repeat(grey[:, :, None], 3, axis=2))


def test_sixteen_bit_rgb_keeps_the_high_byte() -> None:
    rgb = crop_array(CROP)
    np.testing.assert_array_equal(decode_image(png16_rgb(rgb), **LIMITS), rgb)


def test_exif_orientation_is_applied() -> None:
    rgb = np.zeros((40, 60, 3), dtype=np.uint8)
    rgb[0, 0] = 255  # top-left marker
    exif = Image.Exif()
    exif[0x0112] = 6  # stored image must be rotated 90° clockwise for display
    decoded = decode_image(encode(rgb, "PNG", exif=exif), **LIMITS)
    assert decoded.shape == (60, 40, 3)
    assert decoded[0, -1].min() == 255  # the marker is now top-right


def _truncated_jpeg() -> bytes:
    data = encode(crop_array(CROP), "JPEG", quality=90)
    return data[: len(data) // 2]


def _truncated_png() -> bytes:
    data = crop_bytes(CROP)
    return data[: len(data) // 2]


REJECTED = [
    pytest.param(b"", InvalidImage, "empty_body", id="empty"),
    pytest.param(b"hello, not an image" * 20, InvalidImage, "not_an_image", id="text"),
    pytest.param(encode(crop_array(CROP), "GIF"), InvalidImage, "not_an_image", id="gif"),
    pytest.param(encode(crop_array(CROP), "BMP"), InvalidImage, "not_an_image", id="bmp"),
    pytest.param(_truncated_jpeg(), InvalidImage, "corrupt_image", id="truncated-jpeg"),
    pytest.param(_truncated_png(), InvalidImage, "corrupt_image", id="truncated-png"),
    pytest.param(
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, InvalidImage, "not_an_image", id="bad-png-header"
    ),
    pytest.param(
        encode(np.zeros((20, 300, 3), np.uint8)), InvalidImage, "image_too_small", id="small"
    ),
    pytest.param(
        encode(np.zeros((1000, 1001), np.uint8)), PayloadTooLarge, "image_too_large", id="large"
    ),
    pytest.param(
        raw_png(10_000, 10_000, 1, 0, None), PayloadTooLarge, "image_too_large", id="bomb"
    ),
    pytest.param(
        raw_png(30_000, 30_000, 1, 0, b""), PayloadTooLarge, "image_too_large", id="pil-bomb"
    ),
]


@pytest.mark.parametrize(("data", "error", "code"), REJECTED)
def test_rejections(data: bytes, error: type[InvalidImage], code: str) -> None:
    with pytest.raises(error) as excinfo:
        decode_image(data, **LIMITS)
    assert excinfo.value.code == code


def test_bomb_is_small_on_the_wire() -> None:
    # The point of the bomb case above: rejected from the header, never decoded.
    assert len(raw_png(10_000, 10_000, 1, 0, None)) < 64 * 1024


def test_limits_are_inclusive() -> None:
    exact = encode(np.zeros((32, 32, 3), np.uint8))
    assert decode_image(exact, min_side=32, max_pixels=32 * 32).shape == (32, 32, 3)


def test_modes_without_a_rule_are_rejected() -> None:
    # JPEG/PNG/WebP never decode to these; the guard keeps a future format from slipping by.
    with pytest.raises(InvalidImage) as excinfo:
        to_rgb_array(Image.new("F", (40, 40)))
    assert excinfo.value.code == "unsupported_image_mode"


@pytest.mark.parametrize(
    ("data", "per_pixel"),
    [
        (raw_png(100, 50, 16, 6, None), 14),  # 16-bit RGBA: Pillow holds 8-bit RGBA
        (raw_png(100, 50, 8, 2, None), 10),  # RGB
        (raw_png(100, 50, 8, 0, None), 11),  # L
        (raw_png(100, 50, 16, 0, None), 24),  # 16-bit greyscale: wide integer arrays
    ],
    ids=["rgba16", "rgb8", "grey8", "grey16"],
)
def test_probe_estimates_decoded_bytes_from_the_header(data: bytes, per_pixel: int) -> None:
    assert probe_image(data, **LIMITS) == 100 * 50 * per_pixel
    assert bytes_per_pixel("RGB") == 10


def test_probe_applies_the_header_checks() -> None:
    with pytest.raises(PayloadTooLarge):
        probe_image(raw_png(2000, 2000, 16, 6, None), **LIMITS)
    with pytest.raises(InvalidImage, match="at least"):
        probe_image(raw_png(10, 100, 8, 2, None), **LIMITS)


def test_large_jpeg_decodes_reduced_but_reports_the_posted_size() -> None:
    rgb = np.asarray(Image.fromarray(crop_array(CROP)).resize((800, 640)))
    data = encode(rgb, "JPEG", quality=95)
    full = decode(data, **LIMITS)
    reduced = decode(data, **LIMITS, shrink_to=192)
    assert full.pixels.shape == (640, 800, 3) and (full.width, full.height) == (800, 640)
    assert reduced.pixels.shape == (320, 400, 3)  # 1/2: the largest scale keeping >= 192 px
    assert (reduced.width, reduced.height) == (800, 640)
    assert probe_image(data, **LIMITS, shrink_to=192) == 320 * 400 * bytes_per_pixel("RGB")
    # PNG has no reduced decode.
    png = decode(encode(rgb), **LIMITS, shrink_to=192)
    assert png.pixels.shape == (640, 800, 3)
