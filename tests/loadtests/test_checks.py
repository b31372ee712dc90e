"""The load tests' body checks fail wrong answers, and the runner's pure helpers work.

No server and no locust here (importing locust gevent-patches the process); the end-to-end
run is ``python -m loadtests.run`` (see loadtests/README.md).
"""

from __future__ import annotations

import copy
import email.parser
import json
import math
import random
from typing import Any

import pytest

from loadtests.checks import N_LANDMARKS, Expected, check_faces_body, check_frame_body
from loadtests.payloads import (
    BATCH_SIZES,
    DATA,
    FACE_VARIANTS,
    crop_payloads,
    frame_payloads,
    sample_batch_size,
    sample_crops,
)
from loadtests.run import parse_stages
from loadtests.sampling import StageStats, percentile, stage_stats
from loadtests.wire import is_loopback_url, multipart_body

GOLDENS = json.loads((DATA / "crops_goldens.json").read_text())


def good_body(size: int = 192, golden_index: int = 0) -> tuple[dict[str, Any], Expected]:
    """A response as the gateway would give it, built from a MediaPipe golden."""
    golden = GOLDENS[golden_index]["landmarks"]
    landmarks = [[x * size, y * size, z * size] for x, y, z in golden]

    def region(n: int, affine: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"landmarks": [[1.0, 2.0]] * n}
        if affine:
            out["affine"] = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
        return out

    face = {
        "image": {"width": size, "height": size},
        "score": 0.99,
        "landmarks": landmarks,
        "regions": {
            "lips": region(80, True),
            "left_eye": region(71, True),
            "right_eye": region(71, True),
            "left_iris": region(5, False),
            "right_iris": region(5, False),
        },
    }
    body = {"model": {"name": "facemesh", "version": "1", "backend": "onnxruntime"}}
    body["faces"] = [face]  # type: ignore[assignment]
    expected = Expected(width=size, height=size, golden=[p[:2] for p in golden], tolerance=0.01)
    return body, expected


def test_a_correct_body_passes() -> None:
    body, expected = good_body()
    assert check_faces_body(body, [expected]) is None
    scaled, expected_scaled = good_body(size=384)
    assert check_faces_body(scaled, [expected_scaled]) is None


def _mutations() -> list[tuple[str, Any]]:
    def set_point(body: dict[str, Any], value: float) -> None:
        body["faces"][0]["landmarks"][100][1] = value

    def shift(body: dict[str, Any]) -> None:  # right shape, wrong place: +10 px
        for point in body["faces"][0]["landmarks"]:
            point[0] += 10.0

    def other_face(body: dict[str, Any]) -> None:  # a real face mesh, but another crop's
        other, _ = good_body(golden_index=len(GOLDENS) // 2)
        body["faces"][0]["landmarks"] = other["faces"][0]["landmarks"]

    return [
        ("nan", lambda b: set_point(b, math.nan)),
        ("inf", lambda b: set_point(b, math.inf)),
        ("string coordinate", lambda b: b["faces"][0]["landmarks"][3].__setitem__(0, "1")),
        ("477 points", lambda b: b["faces"][0]["landmarks"].pop()),
        ("2-d points", lambda b: b["faces"][0].__setitem__("landmarks", [[1.0, 2.0]] * 478)),
        ("null landmarks on a face", lambda b: b["faces"][0].__setitem__("landmarks", None)),
        ("score above 1", lambda b: b["faces"][0].__setitem__("score", 1.5)),
        ("score nan", lambda b: b["faces"][0].__setitem__("score", math.nan)),
        ("no regions", lambda b: b["faces"][0].pop("regions")),
        ("short lips", lambda b: b["faces"][0]["regions"]["lips"]["landmarks"].pop()),
        ("bad affine", lambda b: b["faces"][0]["regions"]["left_eye"]["affine"].pop()),
        ("wrong image size", lambda b: b["faces"][0]["image"].__setitem__("width", 191)),
        ("no faces", lambda b: b.__setitem__("faces", [])),
        ("two faces", lambda b: b["faces"].append(b["faces"][0])),
        ("no model", lambda b: b.pop("model")),
        ("shifted 10 px", shift),
        ("another crop's mesh", other_face),
    ]


@pytest.mark.parametrize("name,mutate", _mutations(), ids=[m[0] for m in _mutations()])
def test_a_wrong_body_fails(name: str, mutate: Any) -> None:
    body, expected = good_body()
    body = copy.deepcopy(body)
    mutate(body)
    assert check_faces_body(body, [expected]) is not None, name


def test_non_face_crops_may_have_null_landmarks() -> None:
    body, _ = good_body()
    body["faces"][0].update(score=0.01, landmarks=None, regions=None)
    assert check_faces_body(body, [Expected(width=192, height=192)]) is None
    assert check_faces_body("not json object", [Expected(width=192, height=192)]) is not None


def test_frame_check_counts_faces() -> None:
    body, _ = good_body()
    face = body["faces"][0]
    frame = {"faces": [face, face]}
    assert check_frame_body(frame, 2, 192, 192) is None
    assert check_frame_body(frame, 1, 192, 192) is not None
    assert check_frame_body({"faces": []}, 0, 640, 480) is None
    face_without_mesh = dict(face, landmarks=None, score=0.1)
    assert check_frame_body({"faces": [face_without_mesh]}, 1, 192, 192) is not None


def test_payload_mix_covers_every_golden_crop_and_variant() -> None:
    payloads, weights = crop_payloads()
    assert len(payloads) == len(weights)
    faces = [p for p in payloads if p.expected.golden is not None]
    assert len(faces) == len(GOLDENS) * len(FACE_VARIANTS)
    assert {p.content_type for p in payloads} == {"image/jpeg", "image/png"}
    for payload in faces:
        assert payload.expected.golden is not None
        assert len(payload.expected.golden) == N_LANDMARKS
        magic = payload.data[:4]
        assert (
            magic == b"\x89PNG" if payload.content_type == "image/png" else magic[:2] == b"\xff\xd8"
        )
    assert any(p.expected.golden is None for p in payloads), "no non-face crops in the mix"
    rng = random.Random(0)
    assert len(sample_crops(rng, 5)) == 5
    sizes = {sample_batch_size(rng, limit=4) for _ in range(200)}
    assert sizes <= {s for s in BATCH_SIZES if s <= 4} and max(sizes) == 4


def test_frames_match_their_goldens() -> None:
    frames = frame_payloads()
    assert len(frames) == len(json.loads((DATA / "frames_goldens.json").read_text()))
    assert any(f.faces == 0 for f in frames) and any(f.faces > 1 for f in frames)


def test_multipart_body_parses_back() -> None:
    parts = [
        ("image", "a.png", b"\x89PNG...", "image/png"),
        ("image", "b.jpg", b"\xff\xd8", "image/jpeg"),
    ]
    body, content_type = multipart_body(parts, "b0undary")
    message = email.parser.BytesParser().parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    got = [
        (
            p.get_param("name", header="content-disposition"),
            p.get_content_type(),
            p.get_payload(decode=True),
        )
        for p in message.get_payload()
    ]
    assert got == [("image", "image/png", b"\x89PNG..."), ("image", "image/jpeg", b"\xff\xd8")]


@pytest.mark.parametrize(
    "url,loopback",
    [
        ("http://127.0.0.1:8000", True),
        ("http://127.5.6.7", True),
        ("http://localhost:8000", True),
        ("http://[::1]:8000", True),
        ("http://10.0.0.1:8000", False),
        ("http://192.168.1.10", False),
        ("http://8.8.8.8", False),
        ("not a url", False),
    ],
)
def test_only_loopback_targets_are_allowed(url: str, loopback: bool) -> None:
    assert is_loopback_url(url) is loopback


def test_stage_defaults_double_up_to_the_user_bound() -> None:
    assert parse_stages("", 20) == [1, 2, 4, 8, 16, 20]
    assert parse_stages("", 1) == [1]
    assert parse_stages("3,6", 6) == [3, 6]
    with pytest.raises(SystemExit):
        parse_stages("5,50", 20)


def test_stage_stats_windows_by_time() -> None:
    rows = []
    for stage, users in enumerate((1, 2)):
        for i in range(20):  # 20 requests per 10 s stage, 2 crops each, 10 ms / 20 ms
            rows.append(
                {
                    "start": 1000.0 + stage * 10 + i * 0.5,
                    "response_ms": 10.0 * users,
                    "items": 2,
                    "success": i != 19,
                    "users": users,
                }
            )
    stats = stage_stats(rows, [1, 2], 10.0)
    assert [s.users for s in stats] == [1, 2]
    first: StageStats = stats[0]
    assert first.requests == 18  # the first 1 s of each stage is ramp-up
    assert first.failures == 1
    assert first.items == 34
    assert first.items_per_s == pytest.approx(34 / 9.0, abs=0.01)
    assert first.p50_ms == 10.0 and stats[1].p50_ms == 20.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) in (2.0, 3.0)
