"""Whole frames: parity with MediaPipe FaceMesh (static) on every golden frame, rotations,
/v1/frame over HTTP, and tracking over a 100-frame synthetic video.

Per-image numbers are printed (``pytest -s``): faces found vs MediaPipe and each matched
face's mean landmark error as a fraction of its box size.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from service.core.config import Settings
from service.core.errors import PayloadTooLarge
from service.main import create_app
from service.pipelines import frame_decode
from service.pipelines.frames import FramePipeline
from service.pipelines.results import TrackState
from service.processing.decode import decode_image
from service.processing.warp import RotatedRect

DATA = Path(__file__).resolve().parents[2] / "data"
DETECTOR_PATH = Path(__file__).resolve().parents[3] / "model_repository/face_detector/1/model.onnx"
GOLDENS = json.loads((DATA / "frames_goldens.json").read_text())
PARITY_TOLERANCE = 0.01  # of the face box size
ROTATION_TOLERANCE = 0.02


@pytest.fixture(scope="module", params=["openvino", "onnxruntime"])
def frames(
    request: pytest.FixtureRequest,
    open_frame_pipeline: Callable[[str], AbstractContextManager[FramePipeline]],
) -> Iterator[FramePipeline]:
    """The frame pipeline on each embedded runtime: the parity tests run against both."""
    with open_frame_pipeline(request.param) as pipeline:
        yield pipeline


def _frame(name: str) -> np.ndarray:
    return decode_image((DATA / "frames" / name).read_bytes(), min_side=1, max_pixels=10**8)


def _box_size(points: np.ndarray) -> float:
    return float(np.ptp(points[:, :2], axis=0).max())


def _match(found: list[np.ndarray], expected: list[np.ndarray]) -> list[float]:
    """For each expected face, the mean 2-D error of the closest found face / box size."""
    errors = []
    for want in expected:
        best = min(np.linalg.norm(got[:, :2] - want[:, :2], axis=1).mean() for got in found)
        errors.append(best / _box_size(want))
    return errors


def _landmarks(frames: FramePipeline, image: np.ndarray) -> list[np.ndarray]:
    result = frames.process(image, max_faces=16)
    return [face.result.landmarks for face in result.faces if face.result.landmarks is not None]


@pytest.mark.parametrize("entry", GOLDENS, ids=[g["file"] for g in GOLDENS])
def test_parity_with_mediapipe_facemesh(frames: FramePipeline, entry: dict) -> None:
    image = _frame(entry["file"])
    height, width = image.shape[:2]
    scale = np.array([width, height, width])
    expected = [np.asarray(face) * scale for face in entry["faces"]]
    found = _landmarks(frames, image)
    errors = _match(found, expected) if expected else []
    print(
        f"{entry['file']}: MediaPipe {len(expected)} faces, ours {len(found)}; "
        f"mean error / box size: {', '.join(f'{e:.4%}' for e in errors) or '-'}"
    )
    assert len(found) == len(expected)
    assert all(e <= PARITY_TOLERANCE for e in errors), errors


def _rotate(image: np.ndarray, degrees: float) -> tuple[np.ndarray, np.ndarray]:
    """``image`` rotated counter-clockwise by ``degrees`` on a canvas that holds it all, and
    the 2x3 matrix mapping upright pixel-edge coordinates to the rotated image's."""
    height, width = image.shape[:2]
    if degrees in (90, 180):
        k = int(degrees // 90)
        rotated = np.ascontiguousarray(np.rot90(image, k=k))
        if k == 1:  # (x, y) -> (y, W - x)
            matrix = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, width]])
        else:  # (x, y) -> (W - x, H - y)
            matrix = np.array([[-1.0, 0.0, width], [0.0, -1.0, height]])
        return rotated, matrix
    angle = math.radians(degrees)
    cos, sin = abs(math.cos(angle)), abs(math.sin(angle))
    new_w, new_h = (
        math.ceil(width * cos + height * sin),
        math.ceil(width * sin + height * cos),
    )
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    matrix[:, 2] += [(new_w - width) / 2, (new_h - height) / 2]
    # OpenCV's matrix maps pixel centres; pixel-edge coordinates shift by half a pixel.
    edge = matrix.copy()
    edge[:, 2] += matrix[:, :2] @ [-0.5, -0.5] + 0.5
    rotated = cv2.warpAffine(image, matrix, (new_w, new_h), flags=cv2.INTER_LINEAR)
    return rotated, edge


def _refined(
    frames: FramePipeline, image: np.ndarray, rotation_search: bool = False
) -> list[np.ndarray]:
    """Landmarks after one tracking step on the same image: the ROI then comes from the
    landmarks (eye corners 33 -> 263), not from the detector's box and eye keypoints."""
    state = TrackState()
    frames.process(image, 16, state, rotation_search)
    result = frames.process(image, 16, state, rotation_search)
    return [f.result.landmarks for f in result.faces if f.result.landmarks is not None]


# (degrees, rotation search). Without the search (the default, as MediaPipe) 180 degrees
# finds no face: test_upside_down_needs_the_rotation_search.
ROTATIONS = [(30, False), (90, False), (30, True), (90, True), (180, True), (270, True)]


@pytest.mark.parametrize(("degrees", "search"), ROTATIONS, ids=[f"{d}-{s}" for d, s in ROTATIONS])
@pytest.mark.parametrize("name", ["lenna.png", "grace_hopper.jpg"])
def test_rotated_frames_give_the_rotated_landmarks(
    frames: FramePipeline, name: str, degrees: int, search: bool
) -> None:
    image = _frame(name)
    upright = _refined(frames, image)
    rotated, matrix = _rotate(image, degrees)
    found = _refined(frames, rotated, search)
    mapped = [face[:, :2] @ matrix[:, :2].T + matrix[:, 2] for face in upright]
    assert len(found) == len(upright)
    errors = _match(found, mapped)
    print(
        f"{name} rotated {degrees} (rotation search {'on' if search else 'off'}): "
        f"errors / box size {[f'{e:.3%}' for e in errors]}"
    )
    assert all(e <= ROTATION_TOLERANCE for e in errors), errors


@pytest.mark.parametrize("name", ["lenna.png", "grace_hopper.jpg"])
def test_upside_down_needs_the_rotation_search(frames: FramePipeline, name: str) -> None:
    """MediaPipe's detector, trained on upright faces, yields no usable face upside down
    (Lenna: a weak detection whose ROI the landmark model rejects; Grace Hopper: none), and
    the default (search off) keeps that parity. The search finds it on the half-turned frame
    and cuts the ROI from the original frame, turned by about 180 degrees."""
    rotated, _ = _rotate(_frame(name), 180)
    assert frames.process(rotated, 16).faces == []
    (face,) = frames.process(rotated, 16, rotation_search=True).faces
    assert face.detection is not None and face.detection.quarter_turns == 2
    assert abs(abs(face.roi.rotation) - math.pi) < math.radians(20)


def test_rotation_search_keeps_parity_on_the_golden_frames(frames: FramePipeline) -> None:
    """With the search on, frames where MediaPipe finds no face still give none, and the
    others the same number of faces (the search only runs when nothing was found)."""
    for entry in GOLDENS:
        result = frames.process(_frame(entry["file"]), 16, rotation_search=True)
        assert len(result.faces) == len(entry["faces"]), entry["file"]


def test_tracking_100_frames_without_the_detector(frames: FramePipeline) -> None:
    """A synthetic video: Lenna shifted and turned a little more each step. After frame 0 the
    ROI comes from the previous landmarks only; every frame is compared with static mode."""
    base = _frame("lenna.png")
    height, width = base.shape[:2]
    state = TrackState()
    detector_frames = []
    errors = []
    for step in range(100):
        matrix = cv2.getRotationMatrix2D((width / 2, height / 2), 0.2 * step, 1.0)
        matrix[:, 2] += [0.6 * step - 30, 0.3 * step - 15]
        frame = cv2.warpAffine(base, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)
        tracked = frames.process(frame, max_faces=1, state=state)
        if tracked.detector_ran:
            detector_frames.append(step)
        assert len(tracked.faces) == 1, step
        static = _landmarks(frames, frame)
        (error,) = _match([tracked.faces[0].result.landmarks], static[:1])
        errors.append(error)
    print(
        f"tracking: detector on frames {detector_frames}; error vs static mode / box size: "
        f"mean {np.mean(errors):.4%}, max {np.max(errors):.4%}"
    )
    assert detector_frames == [0]
    assert max(errors) <= 0.03


def test_sessions_are_isolated(frames: FramePipeline) -> None:
    face = _frame("lenna.png")
    empty = np.full_like(face, 127)
    one, other = TrackState(), TrackState()
    frames.process(face, 1, one)
    frames.process(empty, 1, other)
    assert len(one.rois) == 1 and other.rois == []
    assert not frames.process(face, 1, one).detector_ran


@pytest.fixture(scope="module")
def frame_client(model_path: Path) -> Iterator[TestClient]:
    if not DETECTOR_PATH.is_file():
        pytest.skip(f"{DETECTOR_PATH} missing: run `make model`")
    with TestClient(create_app(Settings(device="cpu"))) as client:
        yield client


def test_v1_frame_returns_every_face_with_detection_and_roi(frame_client: TestClient) -> None:
    body = (DATA / "frames" / "dlib_2008_001322.jpg").read_bytes()
    response = frame_client.post("/v1/frame", content=body, headers={"Content-Type": "image/jpeg"})
    assert response.status_code == 200
    data = response.json()
    assert data["image"] == {"width": 500, "height": 375} and data["detector_ran"] is True
    assert len(data["faces"]) == 3
    for face in data["faces"]:
        assert len(face["landmarks"]) == 478 and face["score"] >= 0.5
        assert 0.5 <= face["detection"]["score"] <= 1 and len(face["detection"]["box"]) == 4
        assert len(face["detection"]["keypoints"]) == 6
        assert len(face["regions"]["lips"]["affine"]) == 2 and face["roi"]["size"] > 0
    limited = frame_client.post(
        "/v1/frame?max_faces=1", content=body, headers={"Content-Type": "image/jpeg"}
    )
    assert len(limited.json()["faces"]) == 1
    assert (
        frame_client.post(
            "/v1/frame?max_faces=0", content=body, headers={"Content-Type": "image/jpeg"}
        ).status_code
        == 422
    )


def test_v1_frame_without_a_face_is_an_empty_list(frame_client: TestClient) -> None:
    body = (DATA / "frames" / "t1.jpg").read_bytes()
    response = frame_client.post("/v1/frame", content=body, headers={"Content-Type": "image/jpeg"})
    assert response.status_code == 200 and response.json()["faces"] == []


def test_websocket_tracking_session(frame_client: TestClient) -> None:
    body = (DATA / "frames" / "lenna.png").read_bytes()
    with frame_client.websocket_connect("/v1/track") as ws:
        ran = []
        for _ in range(3):
            ws.send_bytes(body)
            message = ws.receive_json()
            assert len(message["faces"]) == 1
            ran.append(message["detector_ran"])
        ws.send_bytes(b"not an image")
        assert ws.receive_json()["error"]["code"] == "not_an_image"
    assert ran == [True, False, False]


def test_v1_frame_rotation_search_query_parameter(frame_client: TestClient) -> None:
    """Off by default (MediaPipe's behaviour: no face upside down); ``?rotation_search=true``
    turns it on per request, and the detection says which turn found the face."""
    rotated, _ = _rotate(_frame("grace_hopper.jpg"), 180)
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(rotated, cv2.COLOR_RGB2BGR))
    assert ok
    headers = {"Content-Type": "image/png"}
    default = frame_client.post("/v1/frame", content=encoded.tobytes(), headers=headers)
    assert default.status_code == 200 and default.json()["faces"] == []
    searched = frame_client.post(
        "/v1/frame?rotation_search=true", content=encoded.tobytes(), headers=headers
    )
    assert searched.status_code == 200
    (face,) = searched.json()["faces"]
    assert face["detection"]["quarter_turns"] == 2 and len(face["landmarks"]) == 478
    upright = frame_client.post(
        "/v1/frame", content=(DATA / "frames" / "lenna.png").read_bytes(), headers=headers
    )
    assert upright.json()["faces"][0]["detection"]["quarter_turns"] == 0
    with frame_client.websocket_connect("/v1/track?rotation_search=true") as ws:
        ws.send_bytes(encoded.tobytes())
        assert [f["detection"]["quarter_turns"] for f in ws.receive_json()["faces"]] == [2]


def test_v1_frame_reports_the_pipeline_it_ran(model_path: Path) -> None:
    """/v1/frame runs the default pipeline's landmark model: with FACEMESH_PIPELINE=cascade it
    must say ``cascade``, not ``attention``."""
    if not DETECTOR_PATH.is_file() or not Settings().cascade_mesh_path.is_file():
        pytest.skip("detector or cascade models missing: run `make model cascade-models`")
    body = (DATA / "frames" / "lenna.png").read_bytes()
    with TestClient(create_app(Settings(device="cpu", pipeline="cascade"))) as client:
        response = client.post("/v1/frame", content=body, headers={"Content-Type": "image/png"})
    assert response.status_code == 200, response.text
    assert response.json()["model"]["pipeline"] == "cascade"
    assert len(response.json()["faces"]) == 1


def _jpeg(rgb: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [90, 90])
    assert ok
    return encoded.tobytes()


def _jpeg_clip(steps: int, zoom: float) -> list[bytes]:
    """A 1280x720 JPEG clip: Lenna zoomed by ``zoom``, shifted and turned a little more each
    frame (a face ROI of about 300 px per 1x zoom)."""
    base = cv2.resize(_frame("lenna.png"), None, fx=zoom, fy=zoom, interpolation=cv2.INTER_CUBIC)
    height, width = base.shape[:2]
    clip = []
    for step in range(steps):
        matrix = cv2.getRotationMatrix2D((width / 2, height / 2), 0.3 * step, 1.0)
        matrix[:, 2] += [(1280 - width) / 2 + 2 * step - 20, (720 - height) / 2 + step - 10]
        frame = cv2.warpAffine(base, matrix, (1280, 720), borderMode=cv2.BORDER_REPLICATE)
        clip.append(_jpeg(frame))
    return clip


def _track(frames: FramePipeline, clip: list[bytes]) -> tuple[list[np.ndarray], list[int]]:
    """Each frame's landmarks through ``run`` in one session, and the scale it decoded at."""

    async def session() -> tuple[list[np.ndarray], list[int]]:
        state, found, scales = TrackState(), [], []
        for payload in clip:
            scales.append(frames.decoder.eighths(frames.decoder.budget.probe(payload), state, 1))
            (face,) = (await frames.run(payload, 1, state)).faces
            assert face.result.landmarks is not None
            found.append(face.result.landmarks)
        return found, scales

    return asyncio.run(session())


@pytest.mark.parametrize("zoom", [1.8, 2.6])
def test_tracked_jpeg_frames_decode_reduced_within_the_parity_tolerance(
    frames: FramePipeline, zoom: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the face is tracked, a frame decodes DCT-scaled (its ROI keeps >= 192 px); its
    landmarks stay within the parity tolerance of the same session decoded whole."""
    clip = _jpeg_clip(12, zoom)
    reduced, scales = _track(frames, clip)
    monkeypatch.setattr(frame_decode, "LANDMARK_ROI_MIN_PX", 10**9)  # whole frames only
    whole, whole_scales = _track(frames, clip)
    assert scales[0] == 8 and max(scales[1:]) < 8  # the first frame runs the detector
    assert set(whole_scales) == {8}
    errors = [
        float(np.linalg.norm(a[:, :2] - b[:, :2], axis=1).mean()) / _box_size(b)
        for a, b in zip(reduced, whole, strict=True)
    ]
    print(
        f"zoom {zoom}: decoded at {sorted(set(scales))} eighths; reduced vs whole decode / "
        f"box size: mean {np.mean(errors):.4%}, max {max(errors):.4%}"
    )
    assert errors[0] == 0.0
    assert max(errors) <= PARITY_TOLERANCE


def test_decode_scale_follows_the_tracked_rois(frames: FramePipeline) -> None:
    jpeg = frames.decoder.budget.probe(_jpeg(np.zeros((720, 1280, 3), np.uint8)))
    png = frames.decoder.budget.probe((DATA / "frames" / "lenna.png").read_bytes())

    def tracked(*sides: float) -> TrackState:
        return TrackState([RotatedRect(640.0, 360.0, side, side, 0.3) for side in sides])

    assert frames.decoder.eighths(jpeg, None, 1) == 8  # static: the detector runs
    assert frames.decoder.eighths(jpeg, TrackState(), 1) == 8
    assert frames.decoder.eighths(jpeg, tracked(800.0), 2) == 8  # the detector still runs
    assert frames.decoder.eighths(jpeg, tracked(300.0), 1) == 8
    assert frames.decoder.eighths(jpeg, tracked(384.0), 1) == 4
    assert frames.decoder.eighths(jpeg, tracked(800.0, 500.0), 2) == 4  # the smallest decides
    assert frames.decoder.eighths(jpeg, tracked(800.0), 1) == 2
    assert frames.decoder.eighths(jpeg, tracked(1600.0), 1) == 1
    assert frames.decoder.eighths(png, tracked(1600.0), 1) == 8  # no DCT scaling
    turned = replace(jpeg, orientation=6)
    assert frames.decoder.eighths(turned, tracked(1600.0), 1) == 8


def test_a_tracked_frame_holds_only_its_reduced_decode_from_the_budget(
    frames: FramePipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the per-request limit between a frame's reduced and whole decode, a tracked
    frame still passes and the same frame without a session is refused (413)."""
    first, second = _jpeg_clip(2, 1.8)
    header = frames.decoder.budget.probe(second)
    whole, half = header.cost(8), header.cost(4)

    async def scenario() -> None:
        state = TrackState()
        await frames.run(first, 1, state)  # detector frame: whole decode, default limit
        assert frames.decoder.eighths(header, state, 1) == 4
        monkeypatch.setattr(frames.decoder.budget, "request_bytes", (whole + half) // 2)
        assert len((await frames.run(second, 1, state)).faces) == 1
        with pytest.raises(PayloadTooLarge) as excinfo:
            await frames.run(second, 1)
        assert excinfo.value.code == "decode_budget_exceeded"
        assert frames.decoder.budget.memory.used == 0

    asyncio.run(scenario())
