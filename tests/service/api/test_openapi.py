"""The OpenAPI document (``service/api/openapi.py``) says what the real server accepts: the
batch limit, the loaded pipelines and detectors only; and ``HEAD`` on the health routes."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import TEST_DATA

SETTINGS = {"FACEMESH_CROPS_MAX_IMAGES": "5"}


@pytest.fixture(scope="module")
def server(model_path: Any, live_server: Any) -> Any:
    return live_server(SETTINGS)


def _parameter_enum(operation: dict[str, Any], name: str) -> list[str] | None:
    for parameter in operation.get("parameters", []):
        if parameter["name"] == name:
            schema = parameter["schema"]
            for part in [schema, *schema.get("anyOf", [])]:
                if "enum" in part:
                    return list(part["enum"])
    return None


def test_the_crops_image_array_holds_one_to_the_configured_limit(server: Any) -> None:
    spec = server.client().get("/openapi.json").json()
    body = spec["paths"]["/v1/crops"]["post"]["requestBody"]["content"]["multipart/form-data"]
    image = body["schema"]["properties"]["image"]
    assert (image["minItems"], image["maxItems"]) == (1, 5)
    crop = (TEST_DATA / "crops" / "lenna_face0.png").read_bytes()
    for count, status in ((5, 200), (6, 422)):  # the server agrees with the document
        files = [("image", (f"{i}.png", crop, "image/png")) for i in range(count)]
        assert server.client().post("/v1/crops", files=files).status_code == status


def test_model_and_detector_enums_list_only_what_is_loaded(server: Any) -> None:
    spec = server.client().get("/openapi.json").json()
    models = {
        path: _parameter_enum(operation, "model")
        for path, operations in spec["paths"].items()
        for operation in operations.values()
        if _parameter_enum(operation, "model") is not None
    }
    assert models and set(map(tuple, models.values())) == {("attention",)}  # no cascade loaded
    assert server.client().get("/readyz?model=cascade").status_code == 422
    detectors = _parameter_enum(spec["paths"]["/v1/frame"]["post"], "detector")
    assert detectors and "short" in detectors
    frame = (TEST_DATA / "frames" / "lenna.png").read_bytes()
    for detector in detectors:  # every documented value is served
        response = server.client().post(
            f"/v1/frame?detector={detector}", content=frame, headers={"Content-Type": "image/png"}
        )
        assert response.status_code == 200, (detector, response.text)


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_head_answers_like_get(server: Any, path: str) -> None:
    get = server.client().get(path)
    head = server.client().head(path)
    assert head.status_code == get.status_code == 200
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.content == b""
