"""``/v1/track`` (``service/api/routes/track.py``) against a real server with a standard
client (``websockets``): text messages, subprotocol negotiation (RFC 6455), the frame size
limit, idle expiry, a bad query refused at the handshake with the JSON error."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from service.tracking import tracking_pb2
from tests.conftest import TEST_DATA
from tests.service.imagekit import encode

MAX_BODY = 600_000  # lenna.png is 475 KB
TTL_S = 1.0
TRACK = {
    "FACEMESH_MAX_BODY_BYTES": str(MAX_BODY),
    "FACEMESH_TRACKING_SESSION_TTL_S": str(TTL_S),
    "FACEMESH_TRACKING_MAX_SESSIONS": "2",
}
FACE = (TEST_DATA / "frames" / "lenna.png").read_bytes()
WAIT_S = 30.0  # upper bound on waiting for an answer, not a timing assertion


@pytest.fixture(scope="module")
def track_gateway(model_path: Any, live_server: Any) -> Any:
    return live_server(TRACK)


def _open(server: Any, **kwargs: Any) -> ClientConnection:
    url = server.base_url.replace("http://", "ws://") + "/v1/track"
    return connect(url, max_size=None, open_timeout=WAIT_S, **kwargs)


def _frame(ws: ClientConnection, payload: bytes | str) -> Any:
    ws.send(payload)
    return json.loads(ws.recv(timeout=WAIT_S))


def test_a_text_message_gets_an_error_and_the_session_goes_on(track_gateway: Any) -> None:
    with _open(track_gateway) as ws:
        error = _frame(ws, "hello")["error"]
        assert error["code"] == "unsupported_message" and "binary" in error["message"]
        assert len(_frame(ws, FACE)["faces"]) == 1


@pytest.mark.parametrize(
    ("offered", "selected"),
    [(None, None), (["facemesh.v1"], "facemesh.v1"), (["other.v2"], None)],
    ids=["none", "facemesh", "other-only"],
)
def test_the_subprotocol_is_selected_only_when_offered(
    track_gateway: Any, offered: list[str] | None, selected: str | None
) -> None:
    # websockets fails the handshake if the server selects a subprotocol it did not offer.
    with _open(track_gateway, subprotocols=offered) as ws:
        assert ws.subprotocol == selected
        assert len(_frame(ws, FACE)["faces"]) == 1


def test_frames_are_held_to_the_body_limit(track_gateway: Any) -> None:
    noise = np.random.default_rng(0).integers(0, 256, size=(600, 600, 3), dtype=np.uint8)
    big = encode(noise)  # a valid PNG over MAX_BODY
    assert len(big) > MAX_BODY
    with _open(track_gateway) as ws:
        ws.send(big)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=WAIT_S)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009  # message too big


def test_an_idle_session_is_closed_on_a_timer(track_gateway: Any) -> None:
    with _open(track_gateway) as ws:
        assert len(_frame(ws, FACE)["faces"]) == 1
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=WAIT_S)  # nothing sent: the server closes after the TTL
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    assert "expired" in closed.value.rcvd.reason
    # Both session slots are free again.
    with _open(track_gateway) as first, _open(track_gateway) as second:
        assert len(_frame(first, FACE)["faces"]) == 1
        assert len(_frame(second, FACE)["faces"]) == 1


@pytest.mark.parametrize(
    "query",
    ["max_faces=0", "max_faces=abc", "fov_degrees=1e-300", "fov_degrees=0.5", "fov_degrees=170"],
)
def test_a_bad_query_is_refused_at_the_handshake_with_the_json_error(
    track_gateway: Any, query: str
) -> None:
    """Before: a 403 with an empty body (bad query) or, for fov_degrees=1e-300, a session
    whose first face dropped the connection without a close frame."""
    url = track_gateway.base_url.replace("http://", "ws://") + "/v1/track?" + query
    with pytest.raises(InvalidStatus) as refused, connect(url, open_timeout=WAIT_S) as ws:
        _frame(ws, FACE)
    response = refused.value.response
    assert response.status_code == 422
    assert response.headers["Content-Type"] == "application/json"
    error = json.loads(response.body)["error"]
    assert error["code"] == "validation_error"
    assert ("max_faces" if "max_faces" in query else "fov_degrees") in error["message"]
    assert "Traceback" not in track_gateway.log()


def test_the_protobuf_subprotocol_answers_binary_frame_results(track_gateway: Any) -> None:
    """Offered ``facemesh.v1.protobuf`` (before or after ``facemesh.v1``), each result is a
    binary ``FrameResult`` message, counted per session, with the JSON answer's numbers;
    a frame's error stays a JSON text message."""
    with _open(track_gateway, subprotocols=["facemesh.v1"]) as ws:
        want = [_frame(ws, FACE) for _ in range(2)]
    for offered in (["facemesh.v1.protobuf"], ["facemesh.v1", "facemesh.v1.protobuf"]):
        with _open(track_gateway, subprotocols=offered) as ws:
            assert ws.subprotocol == "facemesh.v1.protobuf"
            for index, body in enumerate(want):
                ws.send(FACE)
                reply = ws.recv(timeout=WAIT_S)
                assert isinstance(reply, bytes)
                message = tracking_pb2.FrameResult.FromString(reply)
                assert message.frame_index == index and message.width == body["image"]["width"]
                (face,) = body["faces"]
                (out,) = message.faces
                assert out.face_id == face["face_id"]
                landmarks = np.asarray(face["landmarks"], dtype=np.float32).ravel().tolist()
                assert list(out.landmarks) == landmarks
                assert out.pose.euler_degrees.yaw == np.float32(
                    face["pose"]["euler_degrees"]["yaw"]
                )
            assert "error" in _frame(ws, "hello")


def test_fields_limit_a_sessions_faces(track_gateway: Any) -> None:
    with _open(track_gateway, subprotocols=["facemesh.v1"]) as ws:
        full = _frame(ws, FACE)["faces"][0]
    url = track_gateway.base_url.replace("http://", "ws://") + "/v1/track?fields=pose"
    with connect(url, max_size=None, open_timeout=WAIT_S) as ws:
        (face,) = _frame(ws, FACE)["faces"]
    assert set(face) == {"image", "score", "face_id", "pose"}
    assert face["pose"] == full["pose"]


@pytest.mark.parametrize(("setting", "negotiated"), [(None, False), ("true", True)])
def test_permessage_deflate_only_when_the_setting_allows_it(
    live_server: Any, setting: str | None, negotiated: bool
) -> None:
    """The client offers permessage-deflate (as browsers do); the server takes it only with
    ``FACEMESH_WEBSOCKET_COMPRESSION`` on, and answers either way."""
    server = live_server(TRACK | ({"FACEMESH_WEBSOCKET_COMPRESSION": setting} if setting else {}))
    with _open(server, compression="deflate") as ws:
        assert bool(ws.protocol.extensions) == negotiated
        assert len(_frame(ws, FACE)["faces"]) == 1
