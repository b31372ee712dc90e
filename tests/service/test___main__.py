"""``python -m service``: settings honoured (host/port via the live_server fixture, which runs
exactly this entry point), several workers with aggregated metrics, startup failure."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.service.imagekit import crop_bytes

REPO = Path(__file__).resolve().parents[2]


def _crop_requests_total(text: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "facemesh_http_requests_total" and sample.labels == {
                "endpoint": "/v1/crop",
                "status": "200",
            }:
                return sample.value
    raise AssertionError("facemesh_http_requests_total{endpoint=/v1/crop,status=200} missing")


def test_two_workers_serve_and_metrics_aggregate_across_them(
    model_path: Path, live_server: Any
) -> None:
    server = live_server({"FACEMESH_WORKERS": "2", "FACEMESH_INTRA_OP_THREADS": "1"})
    requests = 6
    for _ in range(requests):
        # New connection each time so the kernel spreads requests over both workers.
        with server.new_client() as client:
            response = client.post(
                "/v1/crop", content=crop_bytes("lenna_face0"), headers={"Content-Type": "image/png"}
            )
            assert response.status_code == 200
    with server.new_client() as client:
        text = client.get("/metrics", follow_redirects=True).text
    # Multiprocess collector, not a per-worker registry (which would carry process_* series),
    # so whichever worker answers the scrape reports every worker's requests.
    assert "process_cpu_seconds_total" not in text
    assert _crop_requests_total(text) == requests


def test_missing_model_fails_startup_with_a_pointer_to_make_model(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "FACEMESH_MODEL_PATH": str(tmp_path / "absent.onnx"),
        "FACEMESH_PORT": "0",
        "FACEMESH_HOST": "127.0.0.1",
    }
    result = subprocess.run(
        [sys.executable, "-m", "service"], cwd=REPO, env=env, capture_output=True, timeout=120
    )
    assert result.returncode != 0
    assert b"make model" in result.stdout + result.stderr
