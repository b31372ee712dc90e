"""``facemesh_client.Client`` against real gateways (``python -m service`` on a local port) with
the images and MediaPipe goldens of ``tests/data``."""

from __future__ import annotations

import io
import subprocess
import sys
import threading
from typing import Any, cast

import numpy as np
import pytest
from facemesh_client import Client, FrameResult, errors
from PIL import Image

from tests.clients.helpers import (
    API_KEY,
    CROPS,
    DATA,
    FRAMES,
    HeldSlot,
    assert_crop_matches_golden,
    assert_frame_matches_golden,
    cascade_goldens,
    crop_goldens,
    frame_goldens,
    overloaded_count,
)

GOLDENS = crop_goldens()
GOLDEN_NAMES = sorted(GOLDENS)
FRAME_GOLDENS = frame_goldens()


@pytest.fixture(scope="module")
def client(gateway: Any) -> Any:
    with Client(gateway.base_url) as client:
        yield client


def _rgb(name: str) -> np.ndarray:
    with Image.open(CROPS / f"{name}.png") as image:
        return np.asarray(image.convert("RGB"))


def test_crop_matches_the_goldens(client: Client) -> None:
    for name in ["lenna_face0", "takeo_face0", "grace_hopper_face0", "dlib_2008_001322_face2"]:
        result = client.crop(CROPS / f"{name}.png")
        (face,) = result.faces
        assert face.score > 0.5
        assert (face.image.width, face.image.height) == (192, 192)
        assert_crop_matches_golden(face.landmarks, GOLDENS[name])
        assert result.request_id
        # The embedded backend reports the runtime that ran the model (OpenVINO by default).
        assert result.model.name == "facemesh" and result.model.backend == "openvino"


def test_crops_match_every_golden_in_posting_order(client: Client) -> None:
    for start in range(0, len(GOLDEN_NAMES), 16):  # FACEMESH_CROPS_MAX_IMAGES
        names = GOLDEN_NAMES[start : start + 16]
        result = client.crops([CROPS / f"{name}.png" for name in names])
        assert len(result.faces) == len(names)
        for name, face in zip(names, result.faces, strict=True):
            assert_crop_matches_golden(face.landmarks, GOLDENS[name])


def test_regions_are_typed_arrays(client: Client) -> None:
    face = client.crop(CROPS / "lenna_face0.png").faces[0]
    assert face.regions is not None and face.landmarks is not None
    sizes = {"lips": 80, "left_eye": 71, "right_eye": 71, "left_iris": 5, "right_iris": 5}
    assert face.regions.names() == list(sizes)
    for name, count in sizes.items():
        region = face.regions[name]
        assert region.landmarks.shape == (count, 2)
        assert (region.affine is None) == name.endswith("iris")
    lips = face.regions.lips
    assert lips is not None and lips.affine is not None and lips.affine.shape == (2, 3)
    # The affine maps the unit square's centre inside the lips' landmark box.
    centre = lips.affine @ np.array([0.5, 0.5, 1.0])
    low, high = lips.landmarks.min(axis=0), lips.landmarks.max(axis=0)
    assert np.all(centre >= low) and np.all(centre <= high)
    # left_iris is landmarks[468:473] (README).
    assert face.regions.left_iris is not None
    np.testing.assert_allclose(face.regions.left_iris.landmarks, face.landmarks[468:473, :2])


def test_a_crop_without_a_face_has_a_score_and_no_landmarks(client: Client) -> None:
    result = client.crops([CROPS / "takeo_face0.png", DATA / "nonfaces" / "coffee.png"])
    face, cup = result.faces
    assert face.landmarks is not None and face.regions is not None
    assert cup.score < 0.5 and cup.landmarks is None and cup.regions is None


def test_every_input_type_gives_the_same_landmarks(client: Client) -> None:
    path = CROPS / "lenna_face0.png"
    rgb = _rgb("lenna_face0")
    reference = client.crop(path).faces[0].landmarks
    assert reference is not None
    inputs: list[Any] = [
        str(path),
        path.read_bytes(),
        bytearray(path.read_bytes()),
        rgb,  # encoded by the client's own PNG writer
        Image.fromarray(rgb),  # encoded by Pillow
        np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]),  # RGBA: alpha dropped
    ]
    for image in inputs:
        landmarks = client.crop(image).faces[0].landmarks
        assert landmarks is not None
        np.testing.assert_array_equal(landmarks, reference, err_msg=type(image).__name__)


def test_jpeg_encoding_of_arrays(gateway: Any) -> None:
    with Client(gateway.base_url, image_format="jpeg", jpeg_quality=95) as client:
        face = client.crop(_rgb("lenna_face0")).faces[0]
    assert face.landmarks is not None
    error = np.abs(face.landmarks[:, :2] - GOLDENS["lenna_face0"][:, :2])
    assert error.mean() < 1.5  # the service's bound for JPEG crops


def test_frame_matches_the_frame_goldens(client: Client) -> None:
    for name in ["lenna.png", "dlib_2008_001322.jpg", "dlib_2009_004587.jpg", "t1.jpg"]:
        result = client.frame(FRAMES / name)
        assert result.detector_ran and result.request_id
        found = [face.landmarks for face in result.faces if face.landmarks is not None]
        assert_frame_matches_golden(found, FRAME_GOLDENS[name])
        for face in result.faces:
            assert face.detection is not None and face.roi is not None
            assert face.detection.box.shape == (4,) and face.detection.keypoints.shape == (6, 2)
            assert face.roi.center.shape == (2,) and face.roi.size > 0


def test_frame_max_faces(client: Client) -> None:
    assert len(client.frame(FRAMES / "dlib_2008_001322.jpg").faces) == 3
    assert len(client.frame(FRAMES / "dlib_2008_001322.jpg", max_faces=1).faces) == 1


def test_track_yields_one_result_per_frame_in_order(client: Client) -> None:
    names = ["lenna.png", "lenna.png", "lenna.png", "dlib_2008_001322.jpg"]
    results = list(client.track([FRAMES / name for name in names], max_faces=4))
    assert [type(r) for r in results] == [FrameResult] * 4
    first, second, third, group = results
    assert_frame_matches_golden(
        [f.landmarks for f in first.faces if f.landmarks is not None], FRAME_GOLDENS["lenna.png"]
    )
    assert (first.image.width, first.image.height) == (512, 512)
    # The session tracks: later frames of the same face need no detector while one is kept.
    assert first.detector_ran
    assert first.faces[0].detection is not None
    assert second.faces[0].detection is None and third.faces[0].detection is None
    assert (group.image.width, group.image.height) != (512, 512)
    assert len(group.faces) == 3
    assert first.request_id is None  # one WebSocket, no per-frame HTTP request


def test_track_takes_arrays_and_pil_images(client: Client) -> None:
    with Image.open(FRAMES / "takeo.png") as image:
        rgb = np.asarray(image.convert("RGB"))
        frames: list[Any] = [rgb, Image.fromarray(rgb)]
    results = list(client.track(frames))
    assert len(results) == 2
    expected = FRAME_GOLDENS["takeo.png"]
    for result in results:
        found = [f.landmarks for f in result.faces if f.landmarks is not None]
        assert_frame_matches_golden(found, expected)


def test_track_reads_frames_lazily_with_one_in_flight(client: Client) -> None:
    pulled: list[int] = []

    def frames() -> Any:
        for index in range(3):
            pulled.append(index)
            yield FRAMES / "lenna.png"

    session = client.track(frames())
    assert pulled == []  # nothing sent before the first next()
    next(session)
    assert pulled == [0]
    next(session)
    assert pulled == [0, 1]
    session.close()


def test_a_bad_frame_in_a_session(client: Client) -> None:
    frames: list[Any] = [FRAMES / "lenna.png", b"not an image", FRAMES / "lenna.png"]
    # Default: the frame's error is raised (with its code), ending the session.
    session = client.track(frames)
    next(session)
    with pytest.raises(errors.NotAnImage) as raised:
        next(session)
    assert raised.value.status is None and raised.value.code == "not_an_image"
    # return_errors=True: the error takes the frame's place and the session goes on.
    results = list(client.track(frames, return_errors=True))
    assert isinstance(results[0], FrameResult) and isinstance(results[2], FrameResult)
    assert isinstance(results[1], errors.NotAnImage)


@pytest.mark.parametrize(
    ("image", "error", "status"),
    [
        (b"not an image", errors.NotAnImage, 422),
        (b"", errors.EmptyBody, 422),
        ((CROPS / "lenna_face0.png").read_bytes()[:4000], errors.CorruptImage, 422),
        (np.zeros((16, 16, 3), np.uint8), errors.ImageTooSmall, 422),
    ],
    ids=["not_an_image", "empty_body", "corrupt_image", "image_too_small"],
)
def test_bad_images_raise_their_class(
    client: Client, image: Any, error: type[errors.FacemeshError], status: int
) -> None:
    with pytest.raises(error) as raised:
        client.crop(image)
    exc = raised.value
    assert isinstance(exc, errors.InvalidImage) and isinstance(exc, errors.FacemeshError)
    assert exc.status == status and exc.code == error.code
    assert exc.message and exc.request_id and len(exc.request_id) >= 16


def test_request_errors_raise_their_class(client: Client) -> None:
    with pytest.raises(errors.TooManyImages):
        client.crops([CROPS / "lenna_face0.png"] * 17)  # FACEMESH_CROPS_MAX_IMAGES = 16
    with pytest.raises(errors.ValidationError) as raised:
        client.frame(FRAMES / "lenna.png", max_faces=0)
    assert raised.value.status == 422 and "max_faces" in raised.value.message
    with pytest.raises(errors.ValidationError):
        client.crop(CROPS / "lenna_face0.png", model="no-such-pipeline")
    with pytest.raises(ValueError):
        client.crops([])
    with pytest.raises(TypeError):
        client.crop(np.zeros((64, 64, 3), np.float32))


def test_model_picks_the_cascade_pipeline(guarded_gateway: Any) -> None:
    goldens = cascade_goldens()
    names = ["lenna_face0", "takeo_face0", "dlib_2008_002506_face0_rot+30"]
    with Client(guarded_gateway.base_url, api_key=API_KEY) as client:
        result = client.crops([CROPS / f"{name}.png" for name in names], model="cascade")
        default = client.crop(CROPS / "lenna_face0.png")
    assert result.model.pipeline == "cascade" and default.model.pipeline == "attention"
    for name, face in zip(names, result.faces, strict=True):
        assert face.landmarks is not None
        # The service's bounds for its cascade against MediaPipe's
        # (tests/service/inference/test_cascade.py).
        xy = np.linalg.norm(face.landmarks[:, :2] - goldens[name][:, :2], axis=1)
        assert xy.mean() <= 0.25 and xy.max() <= 1.5, (name, xy.mean(), xy.max())


def test_body_too_large(guarded_gateway: Any) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (800, 800, 3), dtype=np.uint8)
    with (
        Client(guarded_gateway.base_url, api_key=API_KEY) as client,
        pytest.raises(errors.BodyTooLarge) as raised,
    ):
        client.frame(noise)  # ~1.9 MB of PNG against FACEMESH_MAX_BODY_BYTES=1000000
    assert raised.value.status == 413 and raised.value.request_id


def test_api_key(guarded_gateway: Any) -> None:
    url = guarded_gateway.base_url
    with Client(url, api_key=API_KEY) as client:
        assert client.crop(CROPS / "lenna_face0.png").faces[0].landmarks is not None
        assert client.ready()
    for key in (None, "wrong-key"):
        with Client(url, api_key=key) as client:
            with pytest.raises(errors.Unauthorized) as raised:
                client.crop(CROPS / "lenna_face0.png")
            assert raised.value.status == 401 and raised.value.request_id
            with pytest.raises(errors.Unauthorized) as refused:
                next(client.track([FRAMES / "lenna.png"]))
            assert refused.value.status == 401  # the JSON refusal, as on HTTP


def test_api_key_on_the_websocket_as_header_or_subprotocol(guarded_gateway: Any) -> None:
    with Client(guarded_gateway.base_url, api_key=API_KEY) as client:
        for in_subprotocol in (False, True):
            (result,) = client.track([FRAMES / "lenna.png"], key_in_subprotocol=in_subprotocol)
            assert len(result.faces) == 1


def test_a_full_session_store_closes_the_websocket(guarded_gateway: Any) -> None:
    # FACEMESH_TRACKING_MAX_SESSIONS=1: a second session is closed with 1013 (try again later).
    with Client(guarded_gateway.base_url, api_key=API_KEY) as client:
        first = client.track([FRAMES / "lenna.png"] * 2)
        next(first)
        with pytest.raises(errors.SessionClosed) as raised:
            next(client.track([FRAMES / "lenna.png"]))
        assert raised.value.close_code == 1013 and raised.value.retryable
        assert len(next(first).faces) == 1  # the first session is unaffected
        first.close()


def test_overloaded_without_retries_raises_with_retry_after(guarded_gateway: Any) -> None:
    body = (CROPS / "lenna_face0.png").read_bytes()
    with (
        HeldSlot(guarded_gateway, body),
        Client(guarded_gateway.base_url, api_key=API_KEY, max_retries=0) as client,
        pytest.raises(errors.Overloaded) as raised,
    ):
        client.crop(body)
    exc = raised.value
    assert isinstance(exc, errors.RetryableError)
    assert exc.status == 503 and exc.code == "overloaded" and exc.request_id
    assert exc.retry_after == 1.0  # the gateway's Retry-After


def test_overloaded_is_retried_after_retry_after(guarded_gateway: Any) -> None:
    body = (CROPS / "lenna_face0.png").read_bytes()
    outcome: dict[str, Any] = {}
    with HeldSlot(guarded_gateway, body) as held:
        before = overloaded_count(guarded_gateway)

        def call() -> None:
            # The held batch takes a few seconds on a quiet machine and 30 s or more on a
            # loaded one; one retry a second (Retry-After) must outlast it.
            with Client(guarded_gateway.base_url, api_key=API_KEY, max_retries=120) as client:
                try:
                    outcome["result"] = client.crop(body)
                except Exception as exc:  # reported below
                    outcome["error"] = exc

        thread = threading.Thread(target=call)
        thread.start()
        # Release the slot only once the client has been refused for real at least once.
        for _ in range(1200):
            if overloaded_count(guarded_gateway) > before:
                break
            threading.Event().wait(0.05)
        refused = overloaded_count(guarded_gateway) - before
        held.release()
        thread.join(timeout=120)
    assert refused >= 1
    assert "error" not in outcome, outcome.get("error")
    assert_crop_matches_golden(outcome["result"].faces[0].landmarks, GOLDENS["lenna_face0"])


def test_client_is_a_context_manager_with_one_pool(gateway: Any) -> None:
    client = Client(gateway.base_url)
    with client:
        client.crop(CROPS / "lenna_face0.png")
        client.crop(CROPS / "lenna_face0.png")
        pool = cast(Any, client._http)._transport._pool
        assert len(pool.connections) == 1  # keep-alive: both calls on one connection
    with pytest.raises(RuntimeError):
        client.crop(CROPS / "lenna_face0.png")


def test_buffer_inputs_from_pil(client: Client) -> None:
    buffer = io.BytesIO()
    Image.open(CROPS / "lenna_face0.png").save(buffer, format="WEBP", lossless=True)
    face = client.crop(memoryview(buffer.getvalue())).faces[0]
    assert_crop_matches_golden(face.landmarks, GOLDENS["lenna_face0"])


def test_arrays_and_tracking_need_no_pillow(gateway: Any, tmp_path: Any) -> None:
    # A fresh interpreter where importing PIL fails: PNG arrays, paths and tracking still
    # work, and JPEG encoding says which extra to install.
    array_path = tmp_path / "lenna_face0.npy"
    np.save(array_path, _rgb("lenna_face0"))
    script = f"""
import sys
sys.modules["PIL"] = None
import numpy as np
from facemesh_client import Client
rgb = np.load({str(array_path)!r})
with Client({gateway.base_url!r}) as client:
    print(client.crop(rgb).faces[0].landmarks.shape)
    print([len(r.faces) for r in client.track([{str(FRAMES / "lenna.png")!r}])])
with Client({gateway.base_url!r}, image_format="jpeg") as client:
    try:
        client.crop(rgb)
    except ImportError as exc:
        print(exc)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "(478, 3)",
        "[1]",
        "encoding JPEG needs Pillow: pip install 'facemesh-client[pillow]'",
    ]
