"""/metrics (prometheus_client ASGI app) on a live server: names, and histograms moving."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from websockets.sync.client import connect

from service import metrics
from tests.service.imagekit import crop_bytes

STAGE = "facemesh_stage_duration_seconds"


def scrape(client: httpx.Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", follow_redirects=True)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_metric_names_are_namespaced_with_units() -> None:
    declared = [
        metrics.STAGE_SECONDS,
        metrics.REQUEST_SECONDS,
        metrics.REQUESTS,
        metrics.IN_FLIGHT,
        metrics.IMAGES_PER_REQUEST,
        metrics.ERRORS,
        metrics.CROPS,
    ]
    units = {"histogram": ("_seconds", "_images"), "gauge": ("_in_flight",), "counter": ("",)}
    for metric in declared:
        (family,) = metric.collect()
        assert family.name.startswith("facemesh_"), family.name
        assert family.name.endswith(units[family.type]), family.name
        if family.type == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in family.samples)


def test_endpoint_label_is_bounded() -> None:
    assert metrics.endpoint_label("/v1/crop") == "/v1/crop"
    assert metrics.endpoint_label("/v1/frame") == "/v1/frame"
    assert metrics.endpoint_label("/v1/track") == "/v1/track"
    assert metrics.endpoint_label("/v1/crop/../../etc") == "other"
    assert metrics.endpoint_label("/metrics/") == "other"


def test_histograms_and_counters_move_after_requests(gateway: Any) -> None:
    client = gateway.client()
    before = scrape(client)
    assert ("process_cpu_seconds_total", ()) in before  # one worker: the default registry
    for stage in metrics.STAGES:  # pre-created: present before this test's requests
        assert (f"{STAGE}_count", (("stage", stage),)) in before

    single = client.post(
        "/v1/crop", content=crop_bytes("lenna_face0"), headers={"Content-Type": "image/png"}
    )
    assert single.status_code == 200
    files = [("image", (f"{i}.png", crop_bytes("takeo_face0"), "image/png")) for i in range(3)]
    assert client.post("/v1/crops", files=files).status_code == 200
    bad = client.post("/v1/crop", content=b"nope", headers={"Content-Type": "image/png"})
    assert bad.status_code == 422
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after[key] - before.get(key, 0.0)

    for stage in ("inference", "preprocess", "postprocess", "total"):
        assert delta(f"{STAGE}_count", stage=stage) == 2, stage
        assert delta(f"{STAGE}_sum", stage=stage) > 0, stage
    assert delta(f"{STAGE}_count", stage="decode") == 3  # the bad body fails in decode
    assert delta(f"{STAGE}_bucket", stage="inference", le="+Inf") == 2
    assert delta("facemesh_request_images_count") == 2
    assert delta("facemesh_request_images_sum") == 4
    assert delta("facemesh_http_requests_total", endpoint="/v1/crop", status="200") == 1
    assert delta("facemesh_http_requests_total", endpoint="/v1/crops", status="200") == 1
    assert delta("facemesh_http_requests_total", endpoint="/v1/crop", status="422") == 1
    assert delta("facemesh_errors_total", code="not_an_image") == 1
    assert delta("facemesh_crops_total", outcome="face") == 4
    assert delta("facemesh_http_request_duration_seconds_count", endpoint="/v1/crop") == 2
    assert after[("facemesh_http_requests_in_flight", (("endpoint", "/v1/crop"),))] == 0


FRAMES = Path(__file__).resolve().parents[1] / "data" / "frames"


def test_frame_and_track_endpoints_have_their_own_series(gateway: Any) -> None:
    """/v1/frame and the /v1/track WebSocket are labelled by endpoint (series pre-created at
    0), not lumped into ``other``; a WebSocket session counts as 101 once it ends."""
    client = gateway.client()
    before = scrape(client)
    requests = "facemesh_http_requests_total"
    for endpoint, status in (("/v1/frame", "200"), ("/v1/frame", "422"), ("/v1/track", "101")):
        assert (requests, (("endpoint", endpoint), ("status", status))) in before
    frame = (FRAMES / "lenna.png").read_bytes()
    headers = {"Content-Type": "image/png"}
    assert client.post("/v1/frame", content=frame, headers=headers).status_code == 200
    assert client.post("/v1/frame", content=b"nope", headers=headers).status_code == 422
    ws_url = gateway.base_url.replace("http://", "ws://") + "/v1/track"
    with connect(ws_url, max_size=None) as session:
        session.send(frame)
        assert '"faces"' in str(session.recv(timeout=60))
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after[key] - before.get(key, 0.0)

    assert delta(requests, endpoint="/v1/frame", status="200") == 1
    assert delta(requests, endpoint="/v1/frame", status="422") == 1
    assert delta("facemesh_http_request_duration_seconds_count", endpoint="/v1/frame") == 2
    assert delta("facemesh_errors_total", code="not_an_image") == 1
    # The session is counted when it ends (the server may see the close a moment later).
    for _ in range(50):
        if delta(requests, endpoint="/v1/track", status="101") == 1:
            break
        after = scrape(client)
    assert delta(requests, endpoint="/v1/track", status="101") == 1
    assert after[("facemesh_http_requests_in_flight", (("endpoint", "/v1/track"),))] == 0


def test_frame_stages_are_timed_and_a_tracked_frame_skips_the_detector(gateway: Any) -> None:
    """``/v1/frame`` and tracking sessions time frame_decode, detect, landmarks, pose and
    frame_total; a session's second frame (its face tracked) has no detect."""
    client = gateway.client()
    before = scrape(client)
    for stage in metrics.FRAME_STAGES:
        assert (f"{STAGE}_count", (("stage", stage),)) in before
    frame = (FRAMES / "lenna.png").read_bytes()
    assert (
        client.post("/v1/frame", content=frame, headers={"Content-Type": "image/png"}).status_code
        == 200
    )
    ws_url = gateway.base_url.replace("http://", "ws://") + "/v1/track"
    with connect(ws_url, max_size=None) as session:
        for _ in range(2):
            session.send(frame)
            assert '"faces"' in str(session.recv(timeout=60))
    after = scrape(client)

    def count(stage: str) -> float:
        key = (f"{STAGE}_count", (("stage", stage),))
        return after[key] - before[key]

    for stage in ("frame_decode", "landmarks", "pose", "frame_total"):
        assert count(stage) == 3, stage
    assert count("detect") == 2
    assert count("decode") == 0  # the crops' decode stage is theirs alone
