"""The Triton backend against a real local tritonserver gives the embedded backend's results.

Both run the same ``model.onnx`` with ONNX Runtime (Triton via its Python backend here, via its
onnxruntime backend in production), so outputs must agree to well under a pixel. Compared at
two levels: raw model outputs through ``TritonBackend``, and the gateway's JSON over HTTP.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from service.contract import MODEL_OUTPUTS, ModelOutputs
from service.inference.embedded import EmbeddedBackend
from service.inference.runtime import RuntimeOptions
from service.inference.triton import TritonBackend
from tests.system.triton.conftest import SAME_RUNTIME, TOLERANCE_PX, assert_same_json
from tools.servers.triton import LocalTriton

pytestmark = [pytest.mark.triton, pytest.mark.slow]


@pytest.fixture(scope="module")
def embedded(model_path: Path) -> EmbeddedBackend:
    return EmbeddedBackend.open(model_path, RuntimeOptions(runtime="onnxruntime", device="cpu"))


@pytest.fixture(scope="module", params=["grpc", "http"])
def backend(request: pytest.FixtureRequest, triton: LocalTriton) -> Any:
    url = triton.grpc_url if request.param == "grpc" else triton.http_url
    client = TritonBackend(url, protocol=request.param, timeout_s=60.0)
    yield client
    client.close()


def assert_close(got: ModelOutputs, want: ModelOutputs) -> None:
    for name in MODEL_OUTPUTS:
        np.testing.assert_allclose(
            getattr(got, name), getattr(want, name), rtol=0, atol=TOLERANCE_PX, err_msg=name
        )


def test_ready_and_contract_checked(backend: TritonBackend) -> None:
    assert backend.is_ready()


def test_batch_of_every_crop(
    backend: TritonBackend, embedded: EmbeddedBackend, crop_batch: np.ndarray
) -> None:
    assert_close(backend.infer(crop_batch), embedded.infer(crop_batch))


def test_single_crops(
    backend: TritonBackend, embedded: EmbeddedBackend, crop_batch: np.ndarray
) -> None:
    for index in range(len(crop_batch)):
        one = crop_batch[index : index + 1]
        assert_close(backend.infer(one), embedded.infer(one))


def test_batch_larger_than_max_batch_size(
    backend: TritonBackend, embedded: EmbeddedBackend, crop_batch: np.ndarray
) -> None:
    """More crops than the config's max_batch_size (64) go in ordered chunks."""
    images = np.concatenate([crop_batch, crop_batch[::-1]])
    assert len(images) > 64
    got = backend.infer(images)
    assert got.batch_size == len(images)
    assert_close(got, embedded.infer(images))


def faces(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    body = response.json()
    items: list[dict[str, Any]] = body["faces"]
    return items


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_gateway_json_equals_embedded(
    protocol: str,
    triton_gateway: Callable[[str], Any],
    live_server: Callable[[dict[str, str]], Any],
    crop_paths: list[Path],
) -> None:
    """Same JSON from a gateway on Triton and one on the embedded backend: every crop alone,
    and all of them in /v1/crops batches."""
    via_triton = triton_gateway(protocol).client()
    embedded_gateway = live_server(SAME_RUNTIME).client()
    for path in crop_paths:
        body = path.read_bytes()
        headers = {"content-type": "image/png"}
        assert_same_json(
            faces(via_triton.post("/v1/crop", content=body, headers=headers)),
            faces(embedded_gateway.post("/v1/crop", content=body, headers=headers)),
            path.name,
        )
    batch_limit = 16  # the gateway's default crops_max_images
    for start in range(0, len(crop_paths), batch_limit):
        files = [
            ("image", (p.name, p.read_bytes(), "image/png"))
            for p in crop_paths[start : start + batch_limit]
        ]
        assert_same_json(
            faces(via_triton.post("/v1/crops", files=files)),
            faces(embedded_gateway.post("/v1/crops", files=files)),
            f"batch@{start}",
        )
