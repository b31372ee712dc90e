"""/healthz and /readyz, on the real model and on a backend that is down."""

from __future__ import annotations

from typing import Any

import numpy as np
from fastapi.testclient import TestClient

from service.contract import ModelOutputs
from service.core.config import Settings
from service.core.errors import BackendUnavailable
from service.main import create_app
from tests.service.imagekit import crop_bytes


class DownBackend:
    """An InferenceBackend whose server is unreachable (the Triton-down situation)."""

    name = "down"
    batch_sizes: tuple[int, ...] = ()

    def infer(self, images: np.ndarray) -> ModelOutputs:
        raise BackendUnavailable("connection refused")

    def is_ready(self) -> bool:
        return False

    def close(self) -> None:
        pass


def test_live_server_is_healthy_and_ready(gateway: Any) -> None:
    client = gateway.client()
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}


def test_down_backend_is_alive_but_not_ready_and_requests_get_503() -> None:
    with TestClient(create_app(Settings(), backends={"attention": DownBackend()})) as client:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["error"]["code"] == "backend_unavailable"
        crop = client.post(
            "/v1/crop", content=crop_bytes("lenna_face0"), headers={"Content-Type": "image/png"}
        )
        assert crop.status_code == 503
        assert crop.json() == {
            "error": {"code": "backend_unavailable", "message": "connection refused"}
        }


def test_openapi_documents_the_api(test_client: TestClient) -> None:
    spec = test_client.get("/openapi.json").json()
    assert {"/v1/crop", "/v1/crops", "/healthz", "/readyz"} <= set(spec["paths"])
    crop = spec["paths"]["/v1/crop"]["post"]
    assert {"image/png", "image/jpeg", "image/webp", "multipart/form-data"} <= set(
        crop["requestBody"]["content"]
    )
    assert {"200", "413", "415", "422", "503"} <= set(crop["responses"])
    ok_schema = crop["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok_schema == {"$ref": "#/components/schemas/FacesResponse"}
    assert test_client.get("/docs").status_code == 200


def test_testclient_and_live_server_agree(test_client: TestClient, gateway: Any) -> None:
    headers = {"Content-Type": "image/png"}
    data = crop_bytes("takeo_face0")
    in_process = test_client.post("/v1/crop", content=data, headers=headers)
    over_http = gateway.client().post("/v1/crop", content=data, headers=headers)
    assert in_process.status_code == over_http.status_code == 200
    assert in_process.json() == over_http.json()
