"""Service test fixtures: the default live gateway, goldens, a TestClient on the real model and
in-process frame pipelines."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from service.core.config import Settings
from service.inference.detector import EmbeddedDetector
from service.inference.embedded import EmbeddedBackend
from service.inference.runtime import RuntimeOptions
from service.lifespan import standalone_frame_pipeline
from service.main import create_app
from service.pipelines.frames import FramePipeline
from tests.service.imagekit import goldens

DETECTOR_PATH = Path(__file__).resolve().parents[2] / "model_repository/face_detector/1/model.onnx"


@pytest.fixture(scope="session")
def crop_goldens() -> dict[str, np.ndarray]:
    return goldens()


@pytest.fixture(scope="session")
def gateway(model_path: Path, live_server: Callable[[Mapping[str, str]], Any]) -> Any:
    """The gateway with default settings, served by uvicorn on a local port."""
    return live_server({})


@pytest.fixture(scope="session")
def test_client(model_path: Path) -> Iterator[TestClient]:
    """In-process TestClient on the real embedded backend (lifespan run)."""
    with TestClient(create_app(Settings(model_path=model_path))) as client:
        yield client


@pytest.fixture(scope="session")
def open_frame_pipeline(
    model_path: Path,
) -> Callable[[str], AbstractContextManager[FramePipeline]]:
    """``with open_frame_pipeline(runtime) as pipeline``: a ``FramePipeline`` on the real
    landmark model and short-range detector, on CPU and the given embedded runtime, with its
    callers built as the lifespan builds them (and closed, with the models, on exit)."""
    if not DETECTOR_PATH.is_file():
        pytest.skip(f"{DETECTOR_PATH} missing: run `make model`")

    def open_pipeline(runtime: str = "openvino") -> AbstractContextManager[FramePipeline]:
        settings = Settings(device="cpu", runtime=runtime)
        options = RuntimeOptions.from_settings(settings)
        mesh = EmbeddedBackend.open(model_path, options)
        detector = EmbeddedDetector.open(DETECTOR_PATH, options)
        assert mesh.name == detector.name == runtime
        return standalone_frame_pipeline(mesh, detector, settings)

    return open_pipeline


@pytest.fixture(scope="module")
def frames(
    open_frame_pipeline: Callable[[str], AbstractContextManager[FramePipeline]],
) -> Iterator[FramePipeline]:
    """The frame pipeline on OpenVINO (CPU), one per test module; modules that run both
    runtimes override it."""
    with open_frame_pipeline("openvino") as pipeline:
        yield pipeline
