"""The ``landmarker`` pipeline end to end against MediaPipe Tasks FaceLandmarker's goldens
(``tests/data/landmarker_*_goldens.json``, written by ``tools/oracle/landmarker_goldens.py``),
through a real gateway (``FACEMESH_EXTRA_PIPELINES=landmarker``) and its HTTP and WebSocket
routes: image mode on every golden photo (``/v1/frame?model=landmarker``), video mode on the
golden clip (``/v1/track?model=landmarker``), blendshapes on both."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from websockets.sync.client import connect

from service.api import schemas
from service.contract import BLENDSHAPE_NAMES, FACE_ROTATION
from tests.conftest import TEST_DATA
from tests.service.imagekit import encode
from tools.oracle.landmarker_goldens import clip_frames, crop_256

WAIT_S = 30.0  # upper bound on waiting for an answer, not a timing assertion
FRAMES = json.loads((TEST_DATA / "landmarker_frames_goldens.json").read_text())
CLIP = json.loads((TEST_DATA / "landmarker_clip_goldens.json").read_text())
# The parity bounds: landmarks per face (worst point, x and y) as a share of the
# inter-ocular distance; blendshapes per score and their mean.
LANDMARK_IOD = 0.005
Z_IOD = 0.01
SCORE_MAX = 0.05
SCORE_MEAN = 0.005


@pytest.fixture(scope="module")
def landmarker_gateway(model_path: Any, live_server: Any) -> Any:
    # The clip is 15 fps; FaceLandmarker's filter runs at the stream's rate after its first
    # step (30 Hz, its starting rate: the clip starts at 0 ms).
    return live_server(
        {"FACEMESH_EXTRA_PIPELINES": "landmarker", "FACEMESH_SMOOTHING_FRAME_RATE": "15"}
    )


def _errors(face: dict[str, Any], want: np.ndarray) -> tuple[float, float]:
    """Worst point's x, y distance and worst z difference as shares of the inter-ocular
    distance (landmarks 33 and 263 of ``want``, [478, 3] in pixels)."""
    got = np.asarray(face["landmarks"])
    iod = float(np.linalg.norm(want[FACE_ROTATION[0], :2] - want[FACE_ROTATION[1], :2]))
    xy = float(np.linalg.norm(got[:, :2] - want[:, :2], axis=1).max())
    return xy / iod, float(np.abs(got[:, 2] - want[:, 2]).max()) / iod


def _score_errors(face: dict[str, Any], want: list[float]) -> np.ndarray:
    blendshapes = face["blendshapes"]
    assert list(blendshapes) == list(BLENDSHAPE_NAMES)
    return np.abs(np.array(list(blendshapes.values())) - np.array(want))


def test_image_mode_matches_facelandmarker(landmarker_gateway: Any) -> None:
    """Every golden photo, as FaceLandmarker in image mode with 16 faces: the same faces (none
    where it finds none), their landmarks and blendshapes."""
    landmark_errors, z_errors, scores = [], [], []
    for frame in FRAMES["frames"]:
        data = (TEST_DATA / frame["file"]).read_bytes()
        content_type = "image/png" if frame["file"].endswith(".png") else "image/jpeg"
        response = landmarker_gateway.client().post(
            "/v1/frame?model=landmarker&blendshapes=true&max_faces=16",
            content=data,
            headers={"Content-Type": content_type},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        schemas.FrameResponse.model_validate(body)
        assert body["model"]["pipeline"] == "landmarker"
        assert len(body["faces"]) == len(frame["faces"]), frame["file"]
        size = [frame["width"], frame["height"], frame["width"]]
        for golden in frame["faces"]:
            want = np.array(golden["landmarks"]) * size
            face = min(body["faces"], key=lambda face: _errors(face, want)[0])
            xy, z = _errors(face, want)
            landmark_errors.append(xy)
            z_errors.append(z)
            scores.append(_score_errors(face, golden["blendshapes"]))
            assert face["regions"]["lips"]["affine"] is None  # the model has no region heads
    errors = np.stack(scores)
    print(
        f"\nlandmarker, image mode: {len(landmark_errors)} faces, worst point per face at most "
        f"{max(landmark_errors):.2%} of the inter-ocular distance (z {max(z_errors):.2%}); "
        f"blendshapes max |d| {errors.max():.4f}, mean {errors.mean():.5f}"
    )
    assert len(landmark_errors) == 14
    assert max(landmark_errors) <= LANDMARK_IOD
    assert max(z_errors) <= Z_IOD
    assert errors.max() <= SCORE_MAX and errors.mean() <= SCORE_MEAN


def test_video_mode_matches_facelandmarker(landmarker_gateway: Any) -> None:
    """The golden clip through a tracking session, as FaceLandmarker's video mode with one
    face: detected on the first frame, tracked from the last landmarks after it, smoothed."""
    clip = CLIP["clip"]
    url = landmarker_gateway.base_url.replace("http://", "ws://")
    landmark_errors, scores = [], []
    with connect(
        f"{url}/v1/track?model=landmarker&blendshapes=true", max_size=None, open_timeout=WAIT_S
    ) as ws:
        for index, (image, entry) in enumerate(zip(clip_frames(clip), CLIP["frames"], strict=True)):
            ws.send(encode(image))
            body = json.loads(ws.recv(timeout=WAIT_S))
            assert body["model"]["pipeline"] == "landmarker"
            assert body["detector_ran"] == (index == 0)
            (face,) = body["faces"]
            (golden,) = entry["faces"]
            want = np.array(golden["landmarks"]) * [clip["width"], clip["height"], clip["width"]]
            landmark_errors.append(_errors(face, want)[0])
            scores.append(_score_errors(face, golden["blendshapes"]))
    errors = np.stack(scores)
    print(
        f"\nlandmarker, video mode: {len(landmark_errors)} frames, worst point per frame at "
        f"most {max(landmark_errors):.2%} of the inter-ocular distance; blendshapes max |d| "
        f"{errors.max():.4f}, mean {errors.mean():.5f}"
    )
    assert len(landmark_errors) == clip["frames"]
    assert max(landmark_errors) <= LANDMARK_IOD
    assert errors.max() <= SCORE_MAX and errors.mean() <= SCORE_MEAN


MODEL_GOLDENS = json.loads((TEST_DATA / "landmarker_model_goldens.json").read_text())
CROP_PX = 0.01  # px of a 256x256 crop: the model's own parity


def test_crops_match_the_landmark_model(landmarker_gateway: Any) -> None:
    """The goldens' own 256x256 model inputs posted as crops: the route passes a crop of the
    model's size through unchanged, so its landmarks are the model's, in the crop's pixels."""
    goldens = MODEL_GOLDENS["landmark_model"]
    faces = []
    for start in range(0, len(goldens), 16):  # FACEMESH_CROPS_MAX_IMAGES
        files = [
            ("image", (f"{i}.png", encode(crop_256(TEST_DATA / g["file"])), "image/png"))
            for i, g in enumerate(goldens[start : start + 16])
        ]
        response = landmarker_gateway.client().post("/v1/crops?model=landmarker", files=files)
        assert response.status_code == 200, response.text
        body = response.json()
        schemas.FacesResponse.model_validate(body)
        assert body["model"]["pipeline"] == "landmarker"
        faces.extend(body["faces"])
    errors = []
    for face, golden in zip(faces, goldens, strict=True):
        assert abs(face["score"] - golden["face_score"]) <= 1e-4
        if golden["face_score"] < 0.5:  # FaceLandmarker would drop it: so does the route
            assert face["landmarks"] is None
            continue
        assert face["regions"]["left_eye"]["affine"] is None
        want = np.array(golden["landmarks"])
        errors.append(float(np.abs(np.asarray(face["landmarks"]) - want).max()))
    print(f"\nlandmarker crops: {len(errors)} crops, max |d| {max(errors):.4f} px")
    assert len(errors) >= 20 and max(errors) <= CROP_PX


def test_the_landmarker_can_be_the_default_pipeline(model_path: Any, live_server: Any) -> None:
    server = live_server({"FACEMESH_PIPELINE": "landmarker"})
    face = (TEST_DATA / "frames" / "lenna.png").read_bytes()
    response = server.client().post(
        "/v1/frame", content=face, headers={"Content-Type": "image/png"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["model"]["pipeline"] == "landmarker"
    refused = server.client().post(
        "/v1/frame?model=attention", content=face, headers={"Content-Type": "image/png"}
    )
    assert refused.status_code == 422
    assert "not loaded" in refused.json()["error"]["message"]
