"""``benchmarks/peer.py``: the body check, the generated inputs, and one tiny real run against
the real peer (MediaPipe behind FastAPI, oracle virtualenv) and our real gateway.

The real run (``--seconds 1 --rounds 1``, every load) takes about 25 s on a loaded 2-core
machine and the peer's own test 5 s, once the oracle virtualenv exists; the first run on a
machine creates it from PyPI (``tools/oracle/oracle_env.py``, about a minute with pip's cache
warm) and both skip when that cannot be done. No timing is asserted: only that the report
has its fields and that both servers answered every load with the right faces.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from websockets.asyncio.client import connect

from benchmarks.peer import (
    CLIP_SIZE,
    LANDMARKS,
    LOAD_NAMES,
    clip,
    crops,
    faces_in,
    image_size,
    start_peer,
    stills,
)
from service.tracking import tracking_pb2
from tools.oracle.oracle_env import oracle_python

REPO = Path(__file__).resolve().parents[2]


def face(points: int = LANDMARKS) -> dict[str, object]:
    return {"landmarks": [[1.0, 2.0, 3.0]] * points}


def test_faces_in_counts_faces_with_every_landmark() -> None:
    assert faces_in(orjson.dumps({"faces": [face(), face()]})) == 2
    assert faces_in(orjson.dumps({"faces": []})) == 0
    # A crop answer below the face threshold: a face entry without landmarks is no face.
    assert faces_in(orjson.dumps({"faces": [{"landmarks": None}]})) == 0


@pytest.mark.parametrize(
    "body",
    [
        orjson.dumps({"faces": [face(468)]}),
        orjson.dumps({"faces": [{"landmarks": [[1.0, 2.0]] * LANDMARKS}]}),
        orjson.dumps({"error": {"code": "not_an_image", "message": "no"}}),
        b"<html>",
    ],
    ids=["468 points", "2-d points", "error body", "not json"],
)
def test_faces_in_rejects_a_wrong_body(body: bytes) -> None:
    assert faces_in(body) == -1


def test_faces_in_reads_binary_answers() -> None:
    message = tracking_pb2.FrameResult()
    message.faces.add(landmarks=[1.0] * 478 * 3)
    message.faces.add(landmarks=[])  # a face without landmarks does not count
    assert faces_in(message.SerializeToString(), binary=True) == 1
    message.faces.add(landmarks=[1.0] * 6)
    assert faces_in(message.SerializeToString(), binary=True) == -1
    assert faces_in(b"\xff\xff not protobuf", binary=True) == -1


def test_the_clip_is_720p_jpeg_and_deterministic() -> None:
    first, again = clip(6), clip(6)
    assert [item.body for item in first] == [item.body for item in again]
    assert image_size(first[1].body) == CLIP_SIZE
    assert first[0].body[:2] == b"\xff\xd8"  # JPEG
    assert len({item.body for item in first}) == len(first)  # the face moves


def test_stills_span_112_px_to_2k_with_1_to_3_faces() -> None:
    photos = stills()
    sides = [image_size(item.body) for item in photos]
    assert min(min(side) for side in sides) == 112
    assert max(max(side) for side in sides) == 2000
    assert {item.faces for item in photos} == {1, 2, 3}
    assert all(item.body[:2] == b"\xff\xd8" for item in photos)


def test_crops_are_the_ones_with_a_face() -> None:
    faces = crops()
    assert len(faces) == 40  # 42 crops, two without a MediaPipe face (tests/data/README.md)
    assert all(item.faces == 1 and item.body[:4] == b"\x89PNG" for item in faces)


def oracle_or_skip() -> None:
    try:
        oracle_python()
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"the oracle virtualenv (mediapipe from PyPI) could not be created: {exc}")


@pytest.mark.slow
def test_the_peer_answers_faces_and_bad_input_with_a_json_error(tmp_path: Path) -> None:
    oracle_or_skip()
    peer = start_peer(tmp_path, "landmark")
    try:
        photo = stills()[4]  # dlib_2008_001322: 3 faces
        answer = peer.client().post("/frame", content=photo.body)
        assert answer.status_code == 200
        assert faces_in(answer.content) == photo.faces == 3
        assert answer.json()["image"] == {"width": 500, "height": 375}
        bad = peer.client().post("/frame", content=b"not an image")
        assert bad.status_code == 422
        assert bad.json()["error"]["code"] == "not_an_image"

        async def session() -> list[bytes]:
            url = peer.base_url.replace("http://", "ws://") + "/track"
            async with connect(url) as websocket:
                await websocket.send("a text message")
                replies = [str(await websocket.recv()).encode()]
                for frame in clip(150)[:3]:  # three neighbouring frames
                    await websocket.send(frame.body)
                    replies.append(str(await websocket.recv()).encode())
            return replies

        first, *tracked = asyncio.run(session())
        assert orjson.loads(first)["error"]["code"] == "not_an_image"
        assert [faces_in(reply) for reply in tracked] == [1, 1, 1]
    finally:
        peer.stop()


@pytest.mark.slow
def test_a_tiny_real_run_reports_both_servers_answering_with_faces(
    model_path: Path, tmp_path: Path
) -> None:
    oracle_or_skip()
    report_path = tmp_path / "peer.json"
    argv = ["--seconds", "1", "--rounds", "1", "--report", str(report_path)]
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks.peer", *argv],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "ours/peer" in run.stdout
    report = json.loads(report_path.read_text())
    assert len(report["load_average"]["before"]) == len(report["load_average"]["after"]) == 3
    assert report["gateway_settings"]["FACEMESH_OPENVINO_EAGER_COMPILE"] == "true"
    assert set(report["loads"]) == set(LOAD_NAMES)
    assert {name for name, load in report["loads"].items() if "target" in load} == {
        "stills",
        "video",
        "stills-1",
        "video-1",
    }
    for name, load in report["loads"].items():
        for who in ("ours", "peer"):
            row = load[who]
            assert row["answers"] > 0, (name, who, row)
            assert row["errors"] == 0, (name, who, row["first_error"])
            assert row["frames_per_s"] > 0 and row["server_cpu_ms_per_frame"] > 0
            assert row["p99_ms"] >= row["p50_ms"] > 0
        ratios = load["ours_over_peer"]
        assert ratios["frames_per_s"] > 0 and ratios["server_cpu_per_frame"] > 0
    bare = report["loads"]["crops"]["mediapipe_in_process"]
    assert bare["crops"] == 40 and bare["cpu_ms_per_crop"] > 0
