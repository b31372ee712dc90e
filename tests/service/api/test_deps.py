"""``service/api/deps.py``: what routes get from the app the lifespan built, and the 422s for
a pipeline or detector the request names but the gateway did not load (before the body is
read), on a real app with the real models."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.api.deps import Services, services_of
from service.core.config import Settings
from service.main import create_app
from tests.service.imagekit import DATA, crop_bytes

FRAME = (DATA / "frames" / "dlib_2008_001009.jpg").read_bytes()


@pytest.fixture(scope="module")
def short_only(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The attention pipeline alone and the short-range detector alone."""
    missing = tmp_path_factory.mktemp("models") / "absent.onnx"
    settings = Settings(model_path=model_path, device="cpu", detector_full_model_path=missing)
    app = create_app(settings)
    assert services_of(app) is None  # nothing is built before the lifespan runs
    with TestClient(app) as client:
        yield client


def test_services_are_what_the_lifespan_built(short_only: TestClient) -> None:
    services = services_of(short_only.app)  # type: ignore[arg-type]
    assert isinstance(services, Services)
    assert services.detectors.kinds == ["short"]
    assert list(services.crops) == ["attention"]
    assert services.default_crops is services.crops["attention"]


def test_a_detector_that_is_not_loaded_is_a_422_on_its_query_parameter(
    short_only: TestClient,
) -> None:
    headers = {"Content-Type": "image/jpeg"}
    refused = short_only.post("/v1/frame?detector=full", content=FRAME, headers=headers)
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "validation_error"
    assert error["message"] == "query.detector: detector 'full' is not loaded; loaded: short"
    named = short_only.post("/v1/frame?detector=short", content=FRAME, headers=headers)
    assert named.status_code == 200 and named.json()["faces"]


def test_a_pipeline_that_is_not_loaded_is_a_422_on_its_query_parameter(
    short_only: TestClient,
) -> None:
    headers = {"Content-Type": "image/png"}
    body = crop_bytes("lenna_face0")
    refused = short_only.post("/v1/crop?model=cascade", content=body, headers=headers)
    assert refused.status_code == 422
    assert refused.json()["error"]["message"].startswith(
        "query.model: pipeline 'cascade' is not loaded"
    )
    chosen = short_only.post("/v1/crop?model=attention", content=body, headers=headers)
    assert chosen.status_code == 200 and chosen.json()["model"]["pipeline"] == "attention"
