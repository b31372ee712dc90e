"""/v1/crop and /v1/crops through a real uvicorn server (python -m service) and httpx, on the
real model: golden parity, resize mapping, batch == singles, accepted conversions."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from service.api import schemas
from tests.service.imagekit import crop_array, crop_bytes, encode, goldens, png16_grey

GOLDEN_CROPS = sorted(goldens())
NONFACE = "../nonfaces/coffee"


def _post_raw(client: httpx.Client, data: bytes, content_type: str = "image/png") -> Any:
    response = client.post("/v1/crop", content=data, headers={"Content-Type": content_type})
    assert response.status_code == 200, response.text
    return response.json()


def _landmarks(body: Any, index: int = 0) -> np.ndarray:
    landmarks = body["faces"][index]["landmarks"]
    assert landmarks is not None
    return np.asarray(landmarks, dtype=np.float64)


@pytest.mark.parametrize("name", GOLDEN_CROPS)
def test_crop_matches_mediapipe_goldens(
    gateway: Any, crop_goldens: dict[str, np.ndarray], name: str
) -> None:
    body = _post_raw(gateway.client(), crop_bytes(name))
    face = body["faces"][0]
    assert face["image"] == {"width": 192, "height": 192}
    assert face["score"] > 0.5
    error = np.abs(_landmarks(body) - crop_goldens[name])
    assert error.shape == (478, 3)
    assert error[:, :2].mean() <= 0.05
    assert error[:, :2].max() <= 0.5
    assert error[:, 2].mean() <= 0.1


def test_responses_validate_against_the_documented_schema(gateway: Any) -> None:
    files = [
        ("image", ("face.png", crop_bytes("lenna_face0"), "image/png")),
        ("image", ("cup.png", crop_bytes(NONFACE), "image/png")),
    ]
    response = gateway.client().post("/v1/crops", files=files)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    parsed = schemas.FacesResponse.model_validate_json(response.content)
    assert parsed.faces[0].landmarks is not None and len(parsed.faces[0].landmarks) == 478
    assert parsed.faces[1].landmarks is None and parsed.faces[1].regions is None
    # Nothing outside the schema either.
    assert parsed.model_dump(mode="json") == response.json()


def test_response_shape(gateway: Any) -> None:
    body = _post_raw(gateway.client(), crop_bytes("lenna_face0"))
    model = body["model"]
    # The embedded backend reports the runtime that ran the model (OpenVINO by default).
    assert (model["name"], model["version"], model["backend"]) == ("facemesh", "1", "openvino")
    (face,) = body["faces"]
    regions = face["regions"]
    for name, count in {"lips": 80, "left_eye": 71, "right_eye": 71}.items():
        assert np.asarray(regions[name]["landmarks"]).shape == (count, 2)
        assert np.asarray(regions[name]["affine"]).shape == (2, 3)
    for name in ("left_iris", "right_iris"):
        assert np.asarray(regions[name]["landmarks"]).shape == (5, 2)
    # Region landmarks are part of the face: inside the landmark bounding box (+ margin).
    mesh = _landmarks(body)
    low, high = mesh[:, :2].min(axis=0) - 5, mesh[:, :2].max(axis=0) + 5
    for name in ("lips", "left_eye", "right_eye", "left_iris", "right_iris"):
        points = np.asarray(regions[name]["landmarks"])
        assert (points >= low).all() and (points <= high).all(), name


def test_region_affine_covers_its_landmarks(gateway: Any) -> None:
    """The lips' unit square, mapped by its affine, should contain most lip landmarks."""
    body = _post_raw(gateway.client(), crop_bytes("grace_hopper_face0"))
    lips = body["faces"][0]["regions"]["lips"]
    affine = np.vstack([np.asarray(lips["affine"]), [0.0, 0.0, 1.0]])
    points = np.asarray(lips["landmarks"])
    uv = (np.linalg.inv(affine) @ np.c_[points, np.ones(len(points))].T)[:2].T
    inside = ((uv >= 0) & (uv <= 1)).all(axis=1).mean()
    assert inside >= 0.9


def _batched(client: httpx.Client, images: list[bytes]) -> list[Any]:
    faces: list[Any] = []
    for start in range(0, len(images), 16):
        files = [
            ("image", (f"{i}.png", data, "image/png"))
            for i, data in enumerate(images[start : start + 16])
        ]
        response = client.post("/v1/crops", files=files)
        assert response.status_code == 200, response.text
        faces.extend(response.json()["faces"])
    return faces


def _upscaled(resample: Image.Resampling) -> list[bytes]:
    return [
        encode(Image.fromarray(crop_array(name)).resize((384, 384), resample))
        for name in GOLDEN_CROPS
    ]


def test_nearest_upscaled_384_crops_give_exactly_twice_the_landmarks(gateway: Any) -> None:
    """Pixel-replicated 2x crops shrink back to the exact 192 crop (area average), so this
    checks the geometry strictly: scale 2 and the pixel-edge convention, no offset."""
    client = gateway.client()
    base = _batched(client, [crop_bytes(name) for name in GOLDEN_CROPS])
    big = _batched(client, _upscaled(Image.Resampling.NEAREST))
    for name, small_face, big_face in zip(GOLDEN_CROPS, base, big, strict=True):
        assert big_face["image"] == {"width": 384, "height": 384}
        expected = 2 * np.asarray(small_face["landmarks"])
        np.testing.assert_allclose(big_face["landmarks"], expected, atol=0.004, err_msg=name)


UPRIGHT_CROPS = [name for name in GOLDEN_CROPS if "_rot" not in name]


def test_bilinear_upscaled_384_crops_give_about_twice_the_landmarks(
    gateway: Any, crop_goldens: dict[str, np.ndarray]
) -> None:
    """A real 2x resample (bilinear) is not undone exactly by the area downscale: the model
    sees a slightly blurred crop. Landmarks stay within 1 px (mean, posted pixels) of 2x."""
    client = gateway.client()
    upscaled = [
        encode(Image.fromarray(crop_array(name)).resize((384, 384), Image.Resampling.BILINEAR))
        for name in UPRIGHT_CROPS
    ]
    big = _batched(client, upscaled)
    for name, face in zip(UPRIGHT_CROPS, big, strict=True):
        error = np.abs(np.asarray(face["landmarks"]) - 2 * crop_goldens[name])
        assert error[:, :2].mean() <= 1.0, name
        assert np.median(error[:, :2]) <= 1.0, name


def test_batch_equals_single_calls(gateway: Any) -> None:
    client = gateway.client()
    names = ["lenna_face0", NONFACE, "takeo_face0_rot-15", "dlib_2009_004587_face1"]
    files = [("image", (f"{i}.png", crop_bytes(n), "image/png")) for i, n in enumerate(names)]
    response = client.post("/v1/crops", files=files)
    assert response.status_code == 200, response.text
    batch = response.json()
    assert len(batch["faces"]) == len(names)
    for index, name in enumerate(names):
        single = _post_raw(client, crop_bytes(name))["faces"][0]
        item = batch["faces"][index]
        assert item["score"] == pytest.approx(single["score"], abs=1e-5)
        assert item["image"] == single["image"]
        if single["landmarks"] is None:
            assert item["landmarks"] is None and item["regions"] is None
            continue
        np.testing.assert_allclose(item["landmarks"], single["landmarks"], atol=2e-3)
        for region in ("lips", "left_eye", "right_eye"):
            np.testing.assert_allclose(
                item["regions"][region]["affine"], single["regions"][region]["affine"], atol=2e-3
            )


def test_non_face_returns_score_with_null_landmarks(gateway: Any) -> None:
    body = _post_raw(gateway.client(), crop_bytes(NONFACE))
    (face,) = body["faces"]
    assert face["score"] < 0.5
    assert face["landmarks"] is None and face["regions"] is None


def test_threshold_is_configurable(live_server: Any, model_path: Any) -> None:
    server = live_server({"FACEMESH_SCORE_THRESHOLD": "0.0"})
    body = _post_raw(server.client(), crop_bytes(NONFACE))
    assert body["faces"][0]["landmarks"] is not None


def test_multipart_single_equals_raw_body(gateway: Any) -> None:
    client = gateway.client()
    raw = _post_raw(client, crop_bytes("lenna_face0"))
    response = client.post("/v1/crop", files={"image": ("x.png", crop_bytes("lenna_face0"))})
    assert response.status_code == 200, response.text
    assert response.json() == raw


def _as_rgba(rgb: np.ndarray) -> bytes:
    image = Image.fromarray(rgb).convert("RGBA")
    image.putalpha(128)
    return encode(image)


def _as_grey(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(rgb).convert("L"))


ACCEPTED_CONVERSIONS = [
    pytest.param(lambda rgb: _as_rgba(rgb), lambda rgb: encode(rgb), id="rgba-drops-alpha"),
    pytest.param(
        lambda rgb: png16_grey(_as_grey(rgb)), lambda rgb: encode(_as_grey(rgb)), id="16bit-grey"
    ),
    pytest.param(
        lambda rgb: encode(_as_grey(rgb)),
        lambda rgb: encode(np.repeat(_as_grey(rgb)[:, :, None], 3, axis=2)),
        id="grey-replicated",
    ),
]


@pytest.mark.parametrize(("converted", "equivalent"), ACCEPTED_CONVERSIONS)
def test_converted_inputs_equal_their_rgb_equivalent(
    gateway: Any, converted: Any, equivalent: Any
) -> None:
    client = gateway.client()
    rgb = crop_array("grace_hopper_face0")
    got = _post_raw(client, converted(rgb))
    want = _post_raw(client, equivalent(rgb))
    assert got["faces"][0]["landmarks"] is not None
    assert got["faces"] == want["faces"]


def test_jpeg_and_webp_are_served(gateway: Any, crop_goldens: dict[str, np.ndarray]) -> None:
    client = gateway.client()
    rgb = crop_array("lenna_face0")
    for fmt, content_type in (("JPEG", "image/jpeg"), ("WEBP", "image/webp")):
        body = _post_raw(client, encode(rgb, fmt, quality=95), content_type)
        # Lossy re-encoding moves landmarks a little; still the same face.
        assert np.abs(_landmarks(body)[:, :2] - crop_goldens["lenna_face0"][:, :2]).mean() < 1.5


def test_large_jpeg_crops_decode_reduced_and_answer_in_posted_pixels(
    gateway: Any, crop_goldens: dict[str, np.ndarray]
) -> None:
    """A 1536 px JPEG crop (8x) is decoded at 1/4 scale (384 px, libjpeg DCT scaling) to
    bound its memory; landmarks still come in the posted image's pixels, about 8x the
    192 px goldens (the model sees a bilinear-upscaled, JPEG-compressed crop)."""
    client = gateway.client()
    for name in UPRIGHT_CROPS[:3]:
        big = Image.fromarray(crop_array(name)).resize((1536, 1536), Image.Resampling.BILINEAR)
        response = client.post(
            "/v1/crop",
            content=encode(big, "JPEG", quality=95),
            headers={"Content-Type": "image/jpeg"},
        )
        assert response.status_code == 200, response.text
        (face,) = response.json()["faces"]
        assert face["image"] == {"width": 1536, "height": 1536}
        error = np.abs(np.asarray(face["landmarks"]) - 8 * crop_goldens[name])
        assert np.median(error[:, :2]) <= 8.0, name  # 1 px of the 192 crop
