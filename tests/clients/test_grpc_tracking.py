"""``facemesh_client.grpc_tracking`` against a real gateway's gRPC stream: its hand-written
message description matches the server's proto, and results equal the WebSocket's."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from facemesh_client import Client, FrameResult, errors
from facemesh_client.grpc_tracking import GrpcTracker, file_descriptor
from google.protobuf import descriptor_pb2

from tests.clients.helpers import (
    API_KEY,
    FRAMES,
    assert_frame_matches_golden,
    frame_goldens,
)
from tools.servers.gateway import LiveServer

FRAME_GOLDENS = frame_goldens()


@pytest.fixture(scope="module")
def grpc_gateway(
    model_path: Path, grpc_live_server: Callable[..., tuple[LiveServer, str]]
) -> tuple[str, LiveServer]:
    server, target = grpc_live_server(
        {"FACEMESH_API_KEYS": API_KEY, "FACEMESH_TRACKING_MAX_SESSIONS": "1"}
    )
    return target, server


def _fields(proto: descriptor_pb2.FileDescriptorProto) -> dict[tuple[str, str], tuple[Any, ...]]:
    return {
        (message.name, field.name): (
            field.number,
            field.type,
            field.label,
            field.type_name.rsplit(".", 1)[-1],
            field.proto3_optional,
        )
        for message in proto.message_type
        for field in message.field
    }


def test_message_description_matches_the_servers_proto() -> None:
    tracking_pb2 = pytest.importorskip("service.tracking.tracking_pb2")  # make proto
    server = descriptor_pb2.FileDescriptorProto()
    tracking_pb2.DESCRIPTOR.CopyToProto(server)
    ours = file_descriptor()
    assert ours.package == server.package
    server_fields = _fields(server)
    # Every field the client speaks exists on the server, same number, type and shape; the
    # server may have more (the client ignores them).
    for key, spec in _fields(ours).items():
        assert server_fields.get(key) == spec, key


def test_results_equal_the_websockets(grpc_gateway: tuple[str, LiveServer]) -> None:
    target, server = grpc_gateway
    frames: list[Any] = [FRAMES / "lenna.png"] * 3 + [b"junk", FRAMES / "dlib_2008_001322.jpg"]
    with GrpcTracker(target, api_key=API_KEY) as tracker:
        over_grpc = list(tracker.track(frames, max_faces=3, return_errors=True))
    with Client(server.base_url, api_key=API_KEY) as client:
        over_ws = list(client.track(frames, max_faces=3, return_errors=True))
    assert len(over_grpc) == len(over_ws) == 5
    assert isinstance(over_grpc[3], errors.NotAnImage)
    for got, want in zip(over_grpc, over_ws, strict=True):
        if not isinstance(want, FrameResult):
            continue
        assert isinstance(got, FrameResult)
        assert got.image == want.image and got.detector_ran == want.detector_ran
        assert len(got.faces) == len(want.faces)
        for face, reference in zip(got.faces, want.faces, strict=True):
            assert face.landmarks is not None and reference.landmarks is not None
            np.testing.assert_allclose(face.landmarks, reference.landmarks, atol=2e-3)
            assert face.regions is not None and reference.regions is not None
            for name in ("lips", "left_eye", "right_eye"):
                affine, expected = face.regions[name].affine, reference.regions[name].affine
                assert affine is not None and expected is not None
                np.testing.assert_allclose(affine, expected, atol=1e-3)
            np.testing.assert_allclose(
                face.regions["left_iris"].landmarks,
                reference.regions["left_iris"].landmarks,
                atol=2e-3,
            )
            assert (face.detection is None) == (reference.detection is None)
            assert face.roi is not None and reference.roi is not None
            np.testing.assert_allclose(face.roi.center, reference.roi.center, atol=2e-3)
            for field in ("gaze", "head_gaze"):
                ours, theirs = getattr(face, field), getattr(reference, field)
                assert ours is not None and theirs is not None and ours.combined is not None
                assert theirs.combined is not None
                np.testing.assert_allclose(
                    ours.combined.direction, theirs.combined.direction, atol=1e-4
                )
                assert (ours.combined.eyeball_center is None) is (field == "head_gaze")
            assert face.iris_distance is not None and reference.iris_distance is not None
            assert face.iris_distance.right == pytest.approx(
                reference.iris_distance.right, abs=1e-3
            )
    first = over_grpc[0]
    assert isinstance(first, FrameResult)
    found = [f.landmarks for f in first.faces if f.landmarks is not None]
    assert_frame_matches_golden(found, FRAME_GOLDENS["lenna.png"])


def test_errors(grpc_gateway: tuple[str, LiveServer]) -> None:
    target, _ = grpc_gateway
    for key in (None, "wrong-key"):
        with GrpcTracker(target, api_key=key) as tracker, pytest.raises(errors.Unauthorized):
            next(tracker.track([FRAMES / "lenna.png"]))
    with GrpcTracker(target, api_key=API_KEY) as tracker:
        with pytest.raises(errors.NotAnImage):
            list(tracker.track([b"junk"]))
        # FACEMESH_TRACKING_MAX_SESSIONS=1: a second stream is refused, retryably.
        first = tracker.track([FRAMES / "lenna.png"] * 3)
        next(first)
        with pytest.raises(errors.SessionClosed) as raised:
            next(tracker.track([FRAMES / "lenna.png"]))
        assert raised.value.grpc_status == "RESOURCE_EXHAUSTED" and raised.value.retryable
        first.close()  # cancels the stream: the slot frees
        for _ in range(100):
            try:
                (result,) = tracker.track([FRAMES / "takeo.png"])
                break
            except errors.SessionClosed as exc:
                assert exc.retryable
                time.sleep(0.1)
        else:
            raise AssertionError("the cancelled stream's session was never released")
        assert len(result.faces) == 1
