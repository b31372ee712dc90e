"""``service/pipelines/blendshapes.py`` on the real blendshape model: one model call for a
request's faces, the same scores as one face at a time, faces without landmarks skipped."""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pytest

from service.core.config import Settings
from service.core.errors import InvalidParameter
from service.inference.blendshapes import EmbeddedBlendshapes, create_blendshapes
from service.lifespan import blendshapes_caller
from service.pipelines.blendshapes import Blendshapes, require_blendshapes, with_crop_blendshapes
from service.pipelines.results import CropFace
from service.processing.postprocess import FaceResult
from tests.conftest import TEST_DATA

FRAMES = json.loads((TEST_DATA / "landmarker_frames_goldens.json").read_text())["frames"]


class CountingBackend:
    """The real backend, counting its calls (not a stand-in: it runs the model)."""

    def __init__(self, backend: EmbeddedBlendshapes) -> None:
        self.backend = backend
        self.name = backend.name
        self.batch_sizes = backend.batch_sizes
        self.calls: list[int] = []

    def scores(self, points: np.ndarray) -> np.ndarray:
        self.calls.append(len(points))
        return self.backend.scores(points)

    def close(self) -> None:
        self.backend.close()


@pytest.fixture(scope="module")
def counting() -> Iterator[tuple[Blendshapes, CountingBackend]]:
    settings = Settings(device="cpu")
    if not settings.blendshapes_model_path.is_file():
        pytest.skip("run `make landmarker-models`")
    backend = create_blendshapes(settings)
    assert isinstance(backend, EmbeddedBlendshapes)
    wrapped = CountingBackend(backend)
    caller = blendshapes_caller(wrapped, settings)
    yield Blendshapes(caller), wrapped
    caller.close()


def _golden_landmarks() -> list[np.ndarray]:
    return [
        np.array(face["landmarks"]) * [frame["width"], frame["height"], frame["width"]]
        for frame in FRAMES
        for face in frame["faces"]
    ]


def test_a_requests_faces_are_one_model_call(
    counting: tuple[Blendshapes, CountingBackend],
) -> None:
    blendshapes, backend = counting
    landmarks = _golden_landmarks()[:5]
    backend.calls.clear()
    together = blendshapes.scores_blocking(landmarks)
    assert backend.calls == [5]
    alone = [blendshapes.scores_blocking([each])[0] for each in landmarks]
    np.testing.assert_allclose(np.stack(together), np.stack(alone), atol=1e-5)


def test_crops_without_landmarks_get_none(counting: tuple[Blendshapes, CountingBackend]) -> None:
    import asyncio

    blendshapes, backend = counting
    (landmarks,) = _golden_landmarks()[:1]
    face = CropFace(FaceResult(192, 192, 0.9, landmarks, {}), None)
    nonface = CropFace(FaceResult(192, 192, 0.1, None, None), None)
    backend.calls.clear()
    got = asyncio.run(with_crop_blendshapes([nonface, face, nonface], blendshapes))
    assert backend.calls == [1]
    assert got[0].blendshapes is None and got[2].blendshapes is None
    assert got[1].blendshapes is not None and got[1].blendshapes.shape == (52,)


def test_asking_without_the_model_is_a_validation_error() -> None:
    with pytest.raises(InvalidParameter, match="not loaded"):
        require_blendshapes(None)
