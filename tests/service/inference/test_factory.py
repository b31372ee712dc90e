"""``service/inference/factory.py``: the backend ``Settings`` name, built and warmed up
(embedded) or described without contacting the server (Triton), and the cascade pipeline on
its own backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.core.config import Settings
from service.core.memory import EXTRA_PIPELINE_MAX_BATCH_SIZE as EXTRA_CAP
from service.inference.factory import create_backend, create_pipeline_backend


def test_the_embedded_backend_is_warmed_up_on_the_settings_runtime(model_path: Path) -> None:
    backend = create_backend(Settings(model_path=model_path, device="cpu", runtime="onnxruntime"))
    try:
        assert backend.name == "onnxruntime"
        assert backend.is_ready()  # the warm-up call ran
    finally:
        backend.close()


def test_the_triton_backend_is_built_without_contacting_triton() -> None:
    settings = Settings(backend="triton", triton_url="127.0.0.1:1", triton_protocol="http")
    backend = create_backend(settings)
    try:
        assert backend.name == "triton"
        assert not backend.is_ready()  # nothing answers there, and that is no error
    finally:
        backend.close()


def test_the_cascade_pipeline_has_its_own_backend(model_path: Path) -> None:
    settings = Settings(model_path=model_path, device="cpu")
    if not (settings.cascade_mesh_path.is_file() and settings.cascade_iris_path.is_file()):
        pytest.skip("cascade models missing: run `make cascade-models`")
    cascade = create_pipeline_backend(settings, "cascade")
    try:
        assert type(cascade).__name__ == "CascadeBackend"
        # Not the default pipeline: only the batch sizes up to its cap are compiled.
        capped = [size for size in settings.openvino_batch_sizes if size <= EXTRA_CAP]
        assert list(cascade.batch_sizes) == capped
    finally:
        cascade.close()
