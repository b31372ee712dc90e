"""Settings: env prefix, validation, and that nothing else reads the environment."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import pytest
from pydantic import ValidationError

from service.core.config import PIL_MAX_IMAGE_PIXELS, TRITON_INFERENCE_CONCURRENCY, Settings

SERVICE = Path(__file__).resolve().parents[3] / "service"


def test_env_vars_with_prefix_override_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACEMESH_PORT", "9123")
    monkeypatch.setenv("FACEMESH_SCORE_THRESHOLD", "0.25")
    monkeypatch.setenv("FACEMESH_BACKEND", "triton")
    monkeypatch.setenv("PORT", "1")  # unprefixed: ignored
    settings = Settings()
    assert settings.port == 9123
    assert settings.score_threshold == 0.25
    assert settings.backend == "triton"


def test_defaults_serve_the_built_model_on_8000(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FACEMESH_PORT", "FACEMESH_MODEL_PATH", "FACEMESH_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.port == 8000
    assert settings.backend == "embedded"
    assert settings.model_path.parts[-4:] == ("model_repository", "facemesh", "1", "model.onnx")


@pytest.mark.parametrize(
    "overrides",
    [
        {"score_threshold": 1.5},
        {"backend": "tensorflow"},
        {"max_image_pixels": PIL_MAX_IMAGE_PIXELS + 1},
        {"min_image_side": 2000, "max_image_pixels": 1_000_000},
        {"workers": 0},
        {"crops_max_images": 0},
    ],
)
def test_invalid_values_are_rejected(overrides: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Settings(**overrides)  # type: ignore[arg-type]


def test_settings_are_frozen() -> None:
    with pytest.raises(ValidationError):
        Settings().port = 1  # type: ignore[misc]


def _environment_reads(source: str, name: str) -> list[str]:
    """``os.environ[...]``/``.get``/``os.getenv`` reads (assignments excluded) in ``source``."""
    tree = ast.parse(source)
    stores = {
        id(target.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Subscript)
    }
    reads = []
    for node in ast.walk(tree):
        is_env = isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv")
        if is_env and id(node) not in stores:
            reads.append(f"{name}:{node.lineno}")
    return reads


def test_only_settings_read_the_environment() -> None:
    offenders = [
        read
        for path in SERVICE.rglob("*.py")
        if path.name != "config.py"
        for read in _environment_reads(path.read_text(), str(path))
    ]
    assert offenders == []


def test_environment_read_detector_detects() -> None:
    assert _environment_reads("import os\nos.environ['X'] = '1'\n", "w") == []
    assert _environment_reads("import os\nx = os.environ['X']\n", "r") == ["r:2"]
    assert _environment_reads("import os\nx = os.getenv('X')\n", "g") == ["g:2"]
    assert _environment_reads("import os\nx = os.environ.get('X')\n", "e") == ["e:2"]


def test_triton_backend_defaults_to_several_calls_in_flight(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Triton can only batch calls the gateway keeps in flight at once."""
    monkeypatch.setenv("FACEMESH_BACKEND", "triton")
    assert Settings().inference_concurrency == TRITON_INFERENCE_CONCURRENCY > 1
    monkeypatch.setenv("FACEMESH_INFERENCE_CONCURRENCY", "3")
    assert Settings().inference_concurrency == 3
    monkeypatch.delenv("FACEMESH_BACKEND")
    monkeypatch.delenv("FACEMESH_INFERENCE_CONCURRENCY")
    assert Settings().inference_concurrency == 1


def test_backend_onnxruntime_is_a_deprecated_alias_of_embedded(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """``onnxruntime`` named the engine, not the place: the backend runs in process, on
    ``FACEMESH_RUNTIME`` (OpenVINO by default)."""
    monkeypatch.setenv("FACEMESH_BACKEND", "onnxruntime")
    with caplog.at_level(logging.WARNING, logger="service.core.config"):
        settings = Settings()
    assert settings.backend == "embedded"
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "deprecated" in caplog.records[0].getMessage()
    caplog.clear()
    monkeypatch.setenv("FACEMESH_BACKEND", "embedded")
    with caplog.at_level(logging.WARNING, logger="service.core.config"):
        assert Settings().backend == "embedded"
    assert caplog.records == []


def test_openvino_batch_sizes_read_the_old_bucket_name_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FACEMESH_OPENVINO_BATCH_BUCKETS", "2,4")
    assert Settings().openvino_batch_sizes == (2, 4)
    monkeypatch.setenv("FACEMESH_OPENVINO_BATCH_SIZES", "1,8")
    assert Settings().openvino_batch_sizes == (1, 8)
    assert Settings(openvino_batch_sizes="4").openvino_batch_sizes == (4,)


def test_crops_max_images_reads_the_old_name_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """``max_batch_images`` read like ``batch_max_size`` (a model call's rows); the request
    limit is ``crops_max_images`` now, and the old variable still works."""
    monkeypatch.setenv("FACEMESH_MAX_BATCH_IMAGES", "3")
    assert Settings().crops_max_images == 3
    monkeypatch.setenv("FACEMESH_CROPS_MAX_IMAGES", "5")
    assert Settings().crops_max_images == 5
    assert Settings(crops_max_images=7).crops_max_images == 7
