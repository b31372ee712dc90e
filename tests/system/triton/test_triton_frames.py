"""The face detector on Triton (``model_repository/face_detector``) and ``/v1/frame`` through a
gateway on the Triton backend give the embedded backend's results (same ONNX files)."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from service.contract import SHORT_RANGE
from service.inference.detector import EmbeddedDetector, TritonDetector
from service.inference.runtime import RuntimeOptions
from tests.system.triton.conftest import SAME_RUNTIME, TOLERANCE_PX, assert_same_json
from tools.servers.triton import DETECTOR_NAME, REPOSITORY, LocalTriton

pytestmark = [pytest.mark.triton, pytest.mark.slow]

FRAMES = sorted((Path(__file__).resolve().parents[2] / "data" / "frames").glob("*"))


@pytest.fixture(scope="module")
def detector_served(triton: LocalTriton) -> LocalTriton:
    if DETECTOR_NAME not in triton.models:
        pytest.skip(f"{REPOSITORY / DETECTOR_NAME}/1/model.onnx missing: run `make model`")
    return triton


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_detector_outputs_equal_embedded(protocol: str, detector_served: LocalTriton) -> None:
    size = SHORT_RANGE.input_size
    frames = np.stack(
        [
            np.asarray(Image.open(path).convert("RGB").resize((size, size), Image.BILINEAR))
            for path in FRAMES
        ]
    )
    url = detector_served.grpc_url if protocol == "grpc" else detector_served.http_url
    remote = TritonDetector(
        url, protocol=protocol, model_name=DETECTOR_NAME, model_version="1", timeout_s=60.0
    )
    embedded = EmbeddedDetector.open(
        REPOSITORY / DETECTOR_NAME / "1" / "model.onnx",
        RuntimeOptions(runtime="onnxruntime", device="cpu"),
    )
    try:
        for index in range(len(frames)):
            got = remote.detect(frames[index : index + 1])
            want = embedded.detect(frames[index : index + 1])
            for name, a, b in zip(("regressors", "classificators"), got, want, strict=True):
                np.testing.assert_allclose(a, b, rtol=0, atol=TOLERANCE_PX, err_msg=name)
    finally:
        remote.close()
        embedded.close()


def test_frame_endpoint_equals_embedded(
    detector_served: LocalTriton,
    triton_gateway: Callable[[str], Any],
    live_server: Callable[[dict[str, str]], Any],
) -> None:
    via_triton = triton_gateway("grpc").client()
    embedded = live_server(SAME_RUNTIME).client()
    for path in FRAMES:
        content_type = "image/png" if path.suffix == ".png" else "image/jpeg"
        headers = {"content-type": content_type}
        got = via_triton.post("/v1/frame", content=path.read_bytes(), headers=headers)
        want = embedded.post("/v1/frame", content=path.read_bytes(), headers=headers)
        assert got.status_code == want.status_code == 200, (path.name, got.text)
        got_body, want_body = got.json(), want.json()
        assert got_body["model"]["backend"] == "triton"
        for body in (got_body, want_body):
            body.pop("model")
        assert_same_json(got_body, want_body, path.name)


def test_rotation_search_through_triton_equals_embedded(
    detector_served: LocalTriton,
    triton_gateway: Callable[[str], Any],
    live_server: Callable[[dict[str, str]], Any],
) -> None:
    """The rotation search's one detector call with batch 3 (the turned frames) goes through
    Triton too (``face_detector``'s max_batch_size covers it) and finds the same face."""
    upright = Image.open(FRAMES[0].parent / "grace_hopper.jpg").convert("RGB")
    buffer = io.BytesIO()
    upright.rotate(180).save(buffer, format="PNG")
    body, headers = buffer.getvalue(), {"content-type": "image/png"}
    via_triton = triton_gateway("grpc").client()
    embedded = live_server(SAME_RUNTIME).client()
    url = "/v1/frame?rotation_search=true"
    got, want = (
        via_triton.post(url, content=body, headers=headers),
        embedded.post(url, content=body, headers=headers),
    )
    assert got.status_code == want.status_code == 200, got.text
    got_body, want_body = got.json(), want.json()
    assert [f["detection"]["quarter_turns"] for f in got_body["faces"]] == [2]
    for each in (got_body, want_body):
        each.pop("model")
    assert_same_json(got_body, want_body, "grace_hopper upside down")


def test_detector_calls_from_many_threads_use_one_client_each(
    detector_served: LocalTriton,
) -> None:
    """Triton's clients are not thread-safe: concurrent detector calls (the detector's
    executor threads) each get their own client, and every answer is that frame's."""
    from concurrent.futures import ThreadPoolExecutor

    size = SHORT_RANGE.input_size
    frames = np.stack(
        [
            np.asarray(Image.open(path).convert("RGB").resize((size, size), Image.BILINEAR))
            for path in FRAMES
        ]
    )
    remote = TritonDetector(
        detector_served.grpc_url,
        protocol="grpc",
        model_name=DETECTOR_NAME,
        model_version="1",
        timeout_s=60.0,
    )
    embedded = EmbeddedDetector.open(
        REPOSITORY / DETECTOR_NAME / "1" / "model.onnx",
        RuntimeOptions(runtime="onnxruntime", device="cpu"),
    )
    try:
        indices = list(range(len(frames))) * 3
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda i: remote.detect(frames[i : i + 1]), indices))
        assert len(remote.model._transports) > 1  # one client per calling thread
        for index, (regressors, classificators) in zip(indices, answers, strict=True):
            want_r, want_c = embedded.detect(frames[index : index + 1])
            np.testing.assert_allclose(regressors, want_r, rtol=0, atol=TOLERANCE_PX)
            np.testing.assert_allclose(classificators, want_c, rtol=0, atol=TOLERANCE_PX)
    finally:
        remote.close()
        embedded.close()


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_detector_unreachable_is_backend_unavailable(protocol: str) -> None:
    """The mesh backend's error mapping: no Triton answering is ``BackendUnavailable`` (503)."""
    from service.core.errors import BackendUnavailable
    from tools.servers.ports import free_port

    remote = TritonDetector(
        f"127.0.0.1:{free_port()}",
        protocol=protocol,
        model_name=DETECTOR_NAME,
        model_version="1",
        timeout_s=5.0,
    )
    frame = np.zeros((1, SHORT_RANGE.input_size, SHORT_RANGE.input_size, 3), np.uint8)
    with pytest.raises(BackendUnavailable, match="unreachable"):
        remote.detect(frame)
    remote.close()
