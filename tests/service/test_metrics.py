"""/metrics (prometheus_client ASGI app) on a live server: names, and histograms moving."""

from __future__ import annotations

from typing import Any

import httpx
from imagekit import crop_bytes
from prometheus_client.parser import text_string_to_metric_families

from service import metrics

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
        metrics.BATCH_SIZE,
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
    assert delta("facemesh_batch_size_images_count") == 2
    assert delta("facemesh_batch_size_images_sum") == 4
    assert delta("facemesh_http_requests_total", endpoint="/v1/crop", status="200") == 1
    assert delta("facemesh_http_requests_total", endpoint="/v1/crops", status="200") == 1
    assert delta("facemesh_http_requests_total", endpoint="/v1/crop", status="422") == 1
    assert delta("facemesh_errors_total", code="not_an_image") == 1
    assert delta("facemesh_crops_total", outcome="face") == 4
    assert delta("facemesh_http_request_duration_seconds_count", endpoint="/v1/crop") == 2
    assert after[("facemesh_http_requests_in_flight", (("endpoint", "/v1/crop"),))] == 0
