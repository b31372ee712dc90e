"""Image inputs -> upload bytes: the client's own PNG writer, sniffing, rejected inputs."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from facemesh_client.images import OCTET_STREAM, encode_png, sniff, to_upload
from PIL import Image

from tests.clients.helpers import CROPS, FRAMES


@pytest.mark.parametrize("shape", [(37, 53), (37, 53, 1), (37, 53, 3), (37, 53, 4)])
def test_png_writer_round_trips_through_pillow(shape: tuple[int, ...]) -> None:
    array = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    data = encode_png(array)
    with Image.open(io.BytesIO(data)) as image:
        decoded = np.asarray(image)
        assert image.format == "PNG"
    np.testing.assert_array_equal(decoded, array.reshape(decoded.shape))


def test_png_writer_on_a_real_photo_and_a_view() -> None:
    with Image.open(FRAMES / "lenna.png") as image:
        rgb = np.asarray(image.convert("RGB"))
    view = rgb[::2, 10:300]  # not contiguous
    with Image.open(io.BytesIO(encode_png(view))) as image:
        np.testing.assert_array_equal(np.asarray(image), view)


def test_sniffing() -> None:
    assert sniff((CROPS / "lenna_face0.png").read_bytes()) == "image/png"
    assert sniff((FRAMES / "t1.jpg").read_bytes()) == "image/jpeg"
    buffer = io.BytesIO()
    Image.new("RGB", (40, 40)).save(buffer, format="WEBP")
    assert sniff(buffer.getvalue()) == "image/webp"
    assert sniff(b"GIF89a") == OCTET_STREAM


def test_uploads_keep_paths_and_bytes_unchanged() -> None:
    path = FRAMES / "t1.jpg"
    for image in (path, str(path), path.read_bytes()):
        upload = to_upload(image)
        assert upload.data == path.read_bytes() and upload.content_type == "image/jpeg"


def test_pil_images_in_other_modes_are_converted() -> None:
    palette = Image.new("P", (40, 40))
    upload = to_upload(palette)
    with Image.open(io.BytesIO(upload.data)) as image:
        assert image.mode == "RGB" and upload.content_type == "image/png"
    jpeg = to_upload(Image.new("RGBA", (40, 40)), image_format="jpeg")
    assert jpeg.content_type == "image/jpeg" and sniff(jpeg.data) == "image/jpeg"


@pytest.mark.parametrize(
    ("image", "error"),
    [
        (np.zeros((8, 8, 3), np.float64), TypeError),
        (np.zeros((8, 8, 2), np.uint8), ValueError),
        (np.zeros((0, 8, 3), np.uint8), ValueError),
        (12, TypeError),
    ],
)
def test_rejected_inputs(image: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        to_upload(image)
