"""The cascade pipeline (mesh model -> eye crops -> iris model -> merge) against MediaPipe's own
non-attention pipeline on the shared crops, and through the gateway.

Goldens: ``tests/data/crops_cascade_goldens.json`` (``tools/oracle/cascade_goldens.py``; the
oracle differences from MediaPipe's iris graph are documented in
``tools/oracle/mediapipe_cascade.py``). Tolerances, in px of the 192x192 crop:

* mesh (468, before the merge) and the eye ROIs: <= 0.01 px and 1e-4 rad (same model maths,
  same formulas);
* merged 478 points, x/y: per-crop mean <= 0.25 px and every point <= 1.5 px; z: per-crop mean
  <= 0.3 px, every point <= 2.5 px. The eye and iris points differ only through the 64x64 crop:
  ours is float bilinear rounded to uint8 (the model's input), MediaPipe's OpenCV's fixed-point
  bilinear in float; on these crops the worst point is about 1.1 px (x/y) and 1.8 px (z), the
  mean about 0.05-0.14 px.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from service import contract
from service.contract import CASCADE_MESH_SPEC, IRIS_SPEC
from service.core.config import Settings
from service.inference.base import InferenceBackend
from service.inference.cascade import CascadeBackend, create_cascade_backend
from service.inference.embedded import EmbeddedBackend
from service.inference.runtime import RuntimeOptions, open_runtime
from service.main import create_app
from service.processing import iris_refinement
from tests.service.imagekit import DATA, crop_array, crop_bytes

SETTINGS = Settings()
PX = 192.0


def _goldens() -> dict[str, dict[str, np.ndarray]]:
    items = json.loads((DATA / "crops_cascade_goldens.json").read_text())
    return {
        Path(item["file"]).stem: {
            "landmarks": np.asarray(item["landmarks"]) * PX,
            "mesh": np.asarray(item["mesh"]) * PX,
            "eye_rois": np.asarray(item["eye_rois"]),
        }
        for item in items
        if item["landmarks"] is not None
    }


GOLDENS = _goldens()
NAMES = sorted(GOLDENS)


@pytest.fixture(scope="module", params=["openvino", "onnxruntime"])
def backend(request: pytest.FixtureRequest) -> CascadeBackend:
    """The cascade on each runtime: every parity test below runs against both."""
    for path in (SETTINGS.cascade_mesh_path, SETTINGS.cascade_iris_path):
        if not path.is_file():
            pytest.skip(f"{path} missing: run `make cascade-models`")
    cascade = create_cascade_backend(Settings(device="cpu", runtime=request.param))
    assert cascade.name == request.param
    return cascade


@pytest.fixture(scope="module")
def outputs(backend: CascadeBackend) -> Any:
    return backend.infer(np.stack([crop_array(name) for name in NAMES]))


def test_goldens_cover_every_crop() -> None:
    assert len(GOLDENS) == len(list((DATA / "crops").glob("*.png"))) == 42


def test_is_an_inference_backend(backend: CascadeBackend) -> None:
    assert isinstance(backend, InferenceBackend)
    assert backend.is_ready()  # warmed up


def test_mesh_and_eye_rois_match_mediapipe(outputs: Any) -> None:
    rois = iris_refinement.eye_rois(outputs.mesh)
    for i, name in enumerate(NAMES):
        golden = GOLDENS[name]
        np.testing.assert_allclose(outputs.mesh[i], golden["mesh"], atol=0.01, err_msg=name)
        np.testing.assert_allclose(rois.centre[i], golden["eye_rois"][:, :2] * PX, atol=0.01)
        np.testing.assert_allclose(rois.side[i], golden["eye_rois"][:, 2] * PX, atol=0.01)
        np.testing.assert_allclose(rois.rotation[i], golden["eye_rois"][:, 4], atol=1e-4)


def test_landmarks_match_mediapipes_cascade(outputs: Any) -> None:
    for i, name in enumerate(NAMES):
        ours, golden = outputs.landmarks[i], GOLDENS[name]["landmarks"]
        xy = np.linalg.norm(ours[:, :2] - golden[:, :2], axis=1)
        z = np.abs(ours[:, 2] - golden[:, 2])
        assert xy.mean() <= 0.25 and xy.max() <= 1.5, (name, xy.mean(), xy.max())
        assert z.mean() <= 0.3 and z.max() <= 2.5, (name, z.mean(), z.max())


def test_regions_are_the_refined_points(outputs: Any) -> None:
    np.testing.assert_array_equal(
        outputs.left_eye, outputs.landmarks[:, list(contract.LEFT_EYE), :2]
    )
    np.testing.assert_array_equal(outputs.right_iris, outputs.landmarks[:, 473:, :2])
    np.testing.assert_array_equal(outputs.lips, outputs.mesh[:, list(contract.LIPS), :2])


def test_batch_equals_single_calls(backend: CascadeBackend, outputs: Any) -> None:
    for i in (0, 7):
        single = backend.infer(crop_array(NAMES[i])[None])
        np.testing.assert_allclose(single.landmarks[0], outputs.landmarks[i], atol=1e-3)


def test_lips_box_is_the_attention_models_construction(model_path: Path) -> None:
    """``region_box`` on the attention model's own mesh reproduces its lips transform."""
    attention = EmbeddedBackend.open(model_path, RuntimeOptions(device="cpu"))
    result = attention.infer(np.stack([crop_array(name) for name in NAMES[:6]]))
    lips = result.mesh[:, list(contract.LIPS), :2]
    box = iris_refinement.region_box(lips, 0, contract.LIPS.index(contract.LIPS_CORNERS[1]), 1.5)
    ours = iris_refinement.unit_affine_to_region_transform(box)
    np.testing.assert_allclose(ours, result.region_transforms[:, 0], atol=2e-3)


@pytest.fixture(scope="module")
def client(model_path: Path, backend: CascadeBackend) -> Iterator[TestClient]:
    settings = Settings(model_path=model_path, device="cpu", extra_pipelines="cascade")
    app = create_app(settings, backends={"cascade": backend})
    with TestClient(app) as test_client:
        yield test_client


def test_gateway_serves_both_pipelines(client: TestClient) -> None:
    name = "takeo_face0"
    body = crop_bytes(name)
    headers = {"Content-Type": "image/png"}
    default = client.post("/v1/crop", content=body, headers=headers).json()
    chosen = client.post("/v1/crop?model=cascade", content=body, headers=headers).json()
    assert default["model"]["pipeline"] == "attention"
    assert chosen["model"]["pipeline"] == "cascade"
    assert set(chosen["faces"][0]["regions"]) == set(default["faces"][0]["regions"])
    landmarks = np.asarray(chosen["faces"][0]["landmarks"])
    assert landmarks.shape == (478, 3)
    xy = np.linalg.norm(landmarks[:, :2] - GOLDENS[name]["landmarks"][:, :2], axis=1)
    assert xy.mean() <= 0.25 and xy.max() <= 1.5


def test_unknown_or_unloaded_pipeline_is_a_validation_error(
    client: TestClient, model_path: Path
) -> None:
    body, headers = crop_bytes("takeo_face0"), {"Content-Type": "image/png"}
    response = client.post("/v1/crop?model=lips", content=body, headers=headers)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"
    with TestClient(create_app(Settings(model_path=model_path, device="cpu"))) as only_attention:
        response = only_attention.post("/v1/crop?model=cascade", content=body, headers=headers)
    assert response.status_code == 422
    assert "not loaded" in response.json()["error"]["message"]


def test_settings_list_loaded_pipelines() -> None:
    assert Settings().loaded_pipelines == ("attention",)
    assert Settings(pipeline="cascade", extra_pipelines="attention, cascade").loaded_pipelines == (
        "cascade",
        "attention",
    )
    with pytest.raises(ValueError, match="unknown pipelines"):
        Settings(extra_pipelines="lips")


def test_missing_model_file_is_unavailable(tmp_path: Path) -> None:
    from service.core.errors import BackendUnavailable

    with pytest.raises(BackendUnavailable, match="make cascade-models"):
        open_runtime(tmp_path / "absent.onnx", CASCADE_MESH_SPEC, RuntimeOptions(device="cpu"))
    assert IRIS_SPEC.outputs["iris"] == (5, 3)
