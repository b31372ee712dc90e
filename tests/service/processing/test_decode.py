"""decode: accepted formats and modes, EXIF orientations, JPEG variants at every DCT scale
(regions where they belong), and every rejection with its error code."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from service.core.errors import InvalidImage, PayloadTooLarge
from service.processing.decode import (
    Header,
    bytes_per_pixel,
    decode,
    decode_image,
    probe,
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
        (raw_png(100, 50, 16, 6, None), 7),  # 16-bit RGBA: OpenCV keeps the high byte
        (raw_png(100, 50, 8, 2, None), 7),  # RGB: the codec's array and the RGB copy
        (raw_png(100, 50, 8, 0, None), 7),  # L
        (raw_png(100, 50, 16, 0, None), 24),  # 16-bit greyscale (Pillow): wide integer arrays
    ],
    ids=["rgba16", "rgb8", "grey8", "grey16"],
)
def test_probe_estimates_decoded_bytes_from_the_header(data: bytes, per_pixel: int) -> None:
    assert probe(data, **LIMITS).cost() == 100 * 50 * per_pixel
    assert bytes_per_pixel("RGB", "JPEG") == 6
    assert bytes_per_pixel("CMYK", "JPEG") == 15  # through Pillow


def test_probe_applies_the_header_checks() -> None:
    with pytest.raises(PayloadTooLarge):
        probe(raw_png(2000, 2000, 16, 6, None), **LIMITS)
    with pytest.raises(InvalidImage, match="at least"):
        probe(raw_png(10, 100, 8, 2, None), **LIMITS)


def test_large_jpeg_decodes_reduced_but_reports_the_posted_size() -> None:
    rgb = np.asarray(Image.fromarray(crop_array(CROP)).resize((800, 640)))
    data = encode(rgb, "JPEG", quality=95)
    header = probe(data, **LIMITS)
    full = decode(data, **LIMITS)
    reduced = decode(data, **LIMITS, eighths=header.shrink_eighths(192))
    assert full.pixels.shape == (640, 800, 3) and (full.width, full.height) == (800, 640)
    assert reduced.pixels.shape == (320, 400, 3)  # 1/2: the largest scale keeping >= 192 px
    assert (reduced.width, reduced.height) == (800, 640)
    assert header.cost(header.shrink_eighths(192)) == 320 * 400 * bytes_per_pixel("RGB", "JPEG")
    # PNG has no reduced decode.
    png_data = encode(rgb)
    png = decode(png_data, **LIMITS, eighths=probe(png_data, **LIMITS).shrink_eighths(192))
    assert png.pixels.shape == (640, 800, 3)


def _photo(width: int = 803, height: int = 611) -> np.ndarray:
    """A real face photo at an odd size (not a multiple of the 16 px MCU)."""
    return np.asarray(Image.fromarray(crop_array(CROP)).resize((width, height)))


def _pillow_rgb(data: bytes) -> np.ndarray:
    """What Pillow shows for ``data``: loaded, EXIF-transposed, RGB."""
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_is_shown_as_pillow_shows_it(fmt: str, orientation: int) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(_photo(97, 61), fmt, exif=exif, quality=95)
    decoded = decode(data, **LIMITS)
    expected = _pillow_rgb(data)
    assert (decoded.height, decoded.width) == expected.shape[:2]
    np.testing.assert_array_equal(decoded.pixels, expected)


@pytest.mark.parametrize(
    "params",
    [{"progressive": True}, {"restart_marker_blocks": 1}, {"restart_marker_rows": 2}, {}],
    ids=["progressive", "restart-every-block", "restart-every-2-rows", "baseline"],
)
def test_jpeg_variants_decode_as_pillow_decodes_them_at_every_scale(params: dict) -> None:
    rgb = _photo()
    data = encode(rgb, "JPEG", quality=90, **params)
    header = probe(data, **LIMITS)
    assert header.can_scale()
    np.testing.assert_array_equal(decode(data, **LIMITS, eighths=8).pixels, _pillow_rgb(data))
    for eighths in (4, 2, 1):
        reduced = decode(data, **LIMITS, eighths=eighths)
        k = 8 // eighths
        assert reduced.pixels.shape == (-(-611 // k), -(-803 // k), 3)  # libjpeg rounds up
        assert (reduced.width, reduced.height, reduced.eighths) == (803, 611, eighths)
        # Each reduced pixel is the mean of its k x k block of the full image.
        blocks = cv2.resize(rgb[: 611 // k * k, : 803 // k * k], None, fx=1 / k, fy=1 / k,
                            interpolation=cv2.INTER_AREA)  # fmt: skip
        core = reduced.pixels[: blocks.shape[0], : blocks.shape[1]].astype(int)
        assert np.abs(core - blocks).mean() < 4
        assert header.cost(eighths) == reduced.pixels.size * 2  # the array and one copy


def test_reduced_decode_keeps_regions_where_they_are() -> None:
    """A white square at x 200..264, y 120..184 of an odd-sized black frame is at the same
    place / k in each reduced decode."""
    frame = np.zeros((611, 803, 3), np.uint8)
    frame[120:184, 200:264] = 255
    data = encode(frame, "JPEG", quality=95)
    for eighths in (8, 4, 2, 1):
        pixels = decode(data, **LIMITS, eighths=eighths).pixels.astype(int)
        k = 8 // eighths
        inside = pixels[120 // k + 1 : 184 // k - 1, 200 // k + 1 : 264 // k - 1]
        assert inside.min() > 230, eighths
        outside = pixels.copy()
        outside[120 // k - 1 : 184 // k + 1, 200 // k - 1 : 264 // k + 1] = 0
        assert outside.max() < 25, eighths


def test_cmyk_jpeg_is_converted_as_pillow_converts_it() -> None:
    cmyk = Image.fromarray(_photo(120, 90)).convert("CMYK")
    data = encode(cmyk, "JPEG", quality=95)
    header = probe(data, **LIMITS)
    assert header.mode == "CMYK" and not header.can_scale()
    decoded = decode(data, **LIMITS, eighths=2)  # no reduced decode through Pillow
    assert decoded.pixels.shape == (90, 120, 3) and decoded.eighths == 8
    np.testing.assert_array_equal(decoded.pixels, _pillow_rgb(data))
    assert header.cost(2) == 120 * 90 * bytes_per_pixel("CMYK", "JPEG")


@pytest.mark.parametrize("params", [{"progressive": True}, {"restart_marker_rows": 1}, {}])
@pytest.mark.parametrize("eighths", [8, 2])
def test_truncated_jpegs_are_corrupt_at_every_scale(params: dict, eighths: int) -> None:
    data = encode(_photo(), "JPEG", quality=90, **params)
    with pytest.raises(InvalidImage) as excinfo:
        decode(data[: len(data) * 2 // 3], **LIMITS, eighths=eighths)
    assert excinfo.value.code == "corrupt_image"


def test_lossless_webp_decodes_exactly() -> None:
    rgb = _photo(121, 77)
    np.testing.assert_array_equal(decode_image(encode(rgb, "WEBP", lossless=True), **LIMITS), rgb)


def test_a_decoder_reading_another_size_than_the_header_is_corrupt() -> None:
    data = encode(_photo(120, 90), "JPEG")
    lying = Header("JPEG", "RGB", 90, 120)  # what a crafted header could make a parser say
    for eighths in (8, 4):
        with pytest.raises(InvalidImage) as excinfo:
            decode(data, **LIMITS, header=lying, eighths=eighths)
        assert excinfo.value.code == "corrupt_image"
    png = Header("PNG", "RGB", 90, 120)
    with pytest.raises(InvalidImage, match="header says"):
        decode(encode(_photo(120, 90)), **LIMITS, header=png)


def test_png_probe_decodes_no_pixels() -> None:
    # A PNG whose image data is garbage: only decoding would notice.
    data = raw_png(4000, 200, 8, 2, b"\x00" * 10)
    assert probe(data, **LIMITS).orientation == 1
    with pytest.raises(InvalidImage):
        decode(data, **LIMITS)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_animations_decode_their_first_frame(fmt: str) -> None:
    frames = [Image.fromarray(np.full((64, 80, 3), v, np.uint8)) for v in (10, 200, 90)]
    buffer = io.BytesIO()
    frames[0].save(buffer, fmt, save_all=True, append_images=frames[1:], lossless=True)
    decoded = decode_image(buffer.getvalue(), **LIMITS)
    np.testing.assert_array_equal(decoded, np.asarray(frames[0]))
