"""``Frame.model`` and ``Frame.blendshapes`` on the gRPC tracking stream, against a real
``python -m service`` (landmarker loaded beside the default) and a real grpcio client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

from service.contract import BLENDSHAPE_NAMES

DATA = Path(__file__).resolve().parents[2] / "data"
FACE = (DATA / "frames" / "lenna.png").read_bytes()
LANDMARKER = {"FACEMESH_EXTRA_PIPELINES": "landmarker"}


def _track(target: str, frames: list[Any]) -> list[Any]:
    from service.tracking import tracking_pb2_grpc

    with grpc.insecure_channel(target) as channel:
        stub = tracking_pb2_grpc.FaceTrackingStub(channel)
        return list(stub.Track(iter(frames), timeout=120))


def _frame(**fields: Any) -> Any:
    from service.tracking import tracking_pb2

    return tracking_pb2.Frame(image=FACE, **fields)


@pytest.fixture(scope="module")
def servers(
    model_path: Path, grpc_live_server: Callable[..., tuple[Any, str]]
) -> Iterator[Callable[[dict[str, str]], tuple[Any, str]]]:
    yield grpc_live_server


def test_a_landmarker_stream_with_blendshapes_per_frame(servers: Any) -> None:
    server, target = servers(LANDMARKER)
    results = _track(
        target,
        [_frame(model="landmarker", blendshapes=True), _frame(), _frame(blendshapes=True)],
    )
    assert [r.error.code for r in results] == ["", "", ""]
    first, plain, tracked = (r.faces[0] for r in results)
    assert len(first.blendshapes) == len(BLENDSHAPE_NAMES) and not plain.blendshapes
    assert len(tracked.blendshapes) == len(BLENDSHAPE_NAMES)
    assert all(0 <= score <= 1 for score in first.blendshapes)
    assert not first.lips_affine  # the landmarker has no region transforms
    # The first frame is detected, as /v1/frame?model=landmarker sees it.
    response = server.client().post(
        "/v1/frame?model=landmarker&blendshapes=true",
        content=FACE,
        headers={"Content-Type": "image/png"},
    )
    (face,) = response.json()["faces"]
    np.testing.assert_allclose(
        np.reshape(first.landmarks, (-1, 3)), face["landmarks"], atol=1e-3, rtol=1e-6
    )
    np.testing.assert_allclose(first.blendshapes, list(face["blendshapes"].values()), atol=1e-5)
    # The default pipeline's stream is another model: its landmarks differ.
    (default,) = _track(target, [_frame()])[0].faces
    assert len(default.lips_affine) == 6
    assert not np.allclose(default.landmarks, first.landmarks, atol=0.01)


@pytest.mark.parametrize("model", ["cascade", "nonsense"])
def test_a_pipeline_not_loaded_is_invalid_argument(servers: Any, model: str) -> None:
    _, target = servers(LANDMARKER)
    with pytest.raises(grpc.RpcError) as caught:
        _track(target, [_frame(model=model)])
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not loaded" in (caught.value.details() or "")


def test_blendshapes_without_the_model_are_invalid_argument(servers: Any) -> None:
    _, target = servers({"FACEMESH_BLENDSHAPES_MODEL_PATH": "/nonexistent/model.onnx"})
    assert _track(target, [_frame()])[0].faces  # the stream itself works
    with pytest.raises(grpc.RpcError) as caught:
        _track(target, [_frame(blendshapes=True)])
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "blendshape" in (caught.value.details() or "")
