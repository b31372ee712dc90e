"""``benchmarks/peer.py``: the body check, the generated inputs, and one tiny real run against
the real peer (MediaPipe behind FastAPI, oracle virtualenv) and our real gateway.

The real run (``--seconds 1 --rounds 1``, every load) takes about 25 s on a loaded 2-core
machine, once the oracle virtualenv exists; the first run anywhere creates it from PyPI
(``tools/oracle/oracle_env.py``, a minute or two) and skips when that cannot be done. No
timing is asserted: only that the report has its fields and that both servers answered every
load with the right faces.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import orjson
import pytest

from benchmarks.peer import CLIP_SIZE, LANDMARKS, clip, crops, faces_in, stills
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


def test_the_clip_is_720p_jpeg_and_deterministic() -> None:
    first, again = clip(6), clip(6)
    assert [item.body for item in first] == [item.body for item in again]
    frame = cv2.imdecode(np.frombuffer(first[1].body, np.uint8), cv2.IMREAD_COLOR)
    assert frame.shape == (CLIP_SIZE[1], CLIP_SIZE[0], 3)
    assert first[0].body[:2] == b"\xff\xd8"  # JPEG
    assert len({item.body for item in first}) == len(first)  # the face moves


def test_stills_span_112_px_to_2k_with_1_to_3_faces() -> None:
    photos = stills()
    sides = [
        cv2.imdecode(np.frombuffer(item.body, np.uint8), cv2.IMREAD_GRAYSCALE).shape
        for item in photos
    ]
    assert min(min(side) for side in sides) == 112
    assert max(max(side) for side in sides) == 2000
    assert {item.faces for item in photos} == {1, 2, 3}
    assert all(item.body[:2] == b"\xff\xd8" for item in photos)


def test_crops_are_the_ones_with_a_face() -> None:
    faces = crops()
    assert len(faces) == 40  # 42 crops, two without a MediaPipe face (tests/data/README.md)
    assert all(item.faces == 1 and item.body[:4] == b"\x89PNG" for item in faces)


def test_a_tiny_real_run_reports_both_servers_answering_with_faces(
    model_path: Path, tmp_path: Path
) -> None:
    try:
        oracle_python()
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"the oracle virtualenv (mediapipe from PyPI) could not be created: {exc}")
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
    assert set(report["loads"]) == {"stills", "video", "crops"}
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
