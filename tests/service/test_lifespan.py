"""The lifespan builds every model's one ``ModelCaller``: batch sizes and checks from the backend,
one caller per model shared by every endpoint, and a metric label per model (each detector
its own)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from service.contract import FULL_RANGE, SHORT_RANGE, ModelOutputs
from service.core.config import Settings
from service.inference.batcher import ModelCaller
from service.inference.detector import EmbeddedDetector, create_detector
from service.inference.embedded import EmbeddedBackend
from service.inference.runtime import RuntimeOptions
from service.lifespan import detector_caller, mesh_caller
from tests.service.imagekit import CROPS, crop_bytes


@pytest.fixture(scope="module")
def crops() -> np.ndarray:
    paths = sorted(CROPS.glob("*.png"))[:8]
    return np.stack([np.asarray(Image.open(path).convert("RGB")) for path in paths])


@pytest.fixture(scope="module")
def backend(model_path: Path) -> EmbeddedBackend:
    return EmbeddedBackend.open(model_path, RuntimeOptions(device="cpu", threads=1))


async def _gather(models: ModelCaller[ModelOutputs], requests: list[np.ndarray]) -> list[object]:
    return list(await asyncio.gather(*(models.infer(r) for r in requests), return_exceptions=True))


def test_the_mesh_caller_batches_to_the_runtimes_batch_sizes(backend: EmbeddedBackend) -> None:
    caller = mesh_caller(backend, Settings())
    assert caller.batch_sizes == backend.batch_sizes == (1, 2, 3, 4, 8)
    assert caller.model == "attention"


def test_off_contract_images_fail_their_caller_only(
    backend: EmbeddedBackend, crops: np.ndarray
) -> None:
    models = mesh_caller(backend, Settings(batch_max_size=16))
    wrong = np.zeros((1, 96, 96, 3), np.uint8)
    results = asyncio.run(_gather(models, [crops[:1], wrong, crops[1:2]]))
    models.close()
    assert isinstance(results[1], ValueError) and "want uint8" in str(results[1])
    assert isinstance(results[0], ModelOutputs) and isinstance(results[2], ModelOutputs)


def _metric(client: httpx.Client, name: str, model: str) -> float:
    text = client.get("/metrics", follow_redirects=True).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels.get("model") == model:
                return float(sample.value)
    raise AssertionError(f"{name}{{model={model}}} not exported")


def test_gateway_batches_concurrent_crop_and_frame_requests(gateway: Any) -> None:
    """Real uvicorn gateway, real HTTP clients: concurrent /v1/crop and /v1/frame requests go
    through one attention-model caller; every crop answer equals its answer alone, and the
    exported batch-size histogram accounts for every image exactly once."""
    names = [path.stem for path in sorted(CROPS.glob("*.png"))[:16]]
    frame = (CROPS.parents[0] / "frames" / "lenna.png").read_bytes()
    headers = {"content-type": "image/png"}
    client = gateway.client()
    alone = {
        name: client.post("/v1/crop", content=crop_bytes(name), headers=headers).json()
        for name in names
    }
    frame_alone = client.post("/v1/frame", content=frame, headers=headers).json()
    before = _metric(client, "facemesh_model_batch_size_images_sum", "attention")
    detector_before = _metric(client, "facemesh_model_batch_size_images_sum", "detector_short")

    async def together() -> tuple[list[httpx.Response], list[httpx.Response]]:
        async with httpx.AsyncClient(base_url=gateway.base_url, timeout=60.0) as pool:
            crops = [
                pool.post("/v1/crop", content=crop_bytes(name), headers=headers) for name in names
            ]
            frames = [pool.post("/v1/frame", content=frame, headers=headers) for _ in range(4)]
            answers = await asyncio.gather(*crops, *frames)
            return list(answers[: len(crops)]), list(answers[len(crops) :])

    crop_answers, frame_answers = asyncio.run(together())
    for name, response in zip(names, crop_answers, strict=True):
        assert response.status_code == 200, response.text
        got, want = response.json()["faces"][0], alone[name]["faces"][0]
        if want["landmarks"] is None:
            assert got["landmarks"] is None
            continue
        np.testing.assert_allclose(got["landmarks"], want["landmarks"], atol=1e-2)
    faces_per_frame = len(frame_alone["faces"])
    for response in frame_answers:
        assert response.status_code == 200, response.text
        assert len(response.json()["faces"]) == faces_per_frame
        np.testing.assert_allclose(
            response.json()["faces"][0]["landmarks"],
            frame_alone["faces"][0]["landmarks"],
            atol=1e-2,
        )
    after = _metric(client, "facemesh_model_batch_size_images_sum", "attention")
    detector_after = _metric(client, "facemesh_model_batch_size_images_sum", "detector_short")
    assert after - before == len(names) + 4 * faces_per_frame
    assert detector_after - detector_before == 4


def test_each_detector_kind_has_its_own_label() -> None:
    settings = Settings(device="cpu")
    labels = set()
    for path, spec in (
        (settings.detector_model_path, SHORT_RANGE),
        (settings.detector_full_model_path, FULL_RANGE),
    ):
        if not path.is_file():
            pytest.skip(f"{path} missing: run `make model`")
        detector = EmbeddedDetector.open(path, RuntimeOptions(device="cpu"), spec)
        caller = detector_caller(detector, settings)
        assert caller.batch_sizes == detector.batch_sizes
        labels.add(caller.model)
        caller.close()
    assert labels == {"detector_short", "detector_full"}


def test_concurrent_stills_detections_share_a_call_of_2_or_3() -> None:
    """A detector compiles 1, 2, 3 and 4: two or three concurrent stills' letterboxes form one
    call of their count instead of being trimmed to calls of one."""
    settings = Settings(device="cpu")
    if not settings.detector_model_path.is_file():
        pytest.skip(f"{settings.detector_model_path} missing: run `make model`")
    caller = detector_caller(create_detector(settings, "short"), settings)
    assert caller.batch_sizes == (1, 2, 3, 4)
    caller.close()
