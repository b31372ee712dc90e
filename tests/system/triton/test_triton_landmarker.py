"""The landmarker pipeline and blendshapes on the Triton backend: a real ``tritonserver``
serving ``face_landmarker`` and ``face_blendshapes`` (beside the mesh and the detector), a
real gateway on it, the same answers as the embedded gateway on the same runtime."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.system.triton.conftest import SAME_RUNTIME, TOLERANCE_PX, gateway_settings
from tools.servers.triton import FACELANDMARKER_NAMES, LocalTriton, LocalTritonUnavailableError

DATA = Path(__file__).resolve().parents[2] / "data"
QUERY = "?model=landmarker&blendshapes=true&max_faces=4"
LANDMARKER = {"FACEMESH_EXTRA_PIPELINES": "landmarker"}


@pytest.fixture(scope="module")
def landmarker_triton(
    tmp_path_factory: pytest.TempPathFactory, model_path: Path
) -> Iterator[LocalTriton]:
    workdir = tmp_path_factory.mktemp("triton-landmarker")
    try:
        server = LocalTriton(workdir, model_path, extra_models=FACELANDMARKER_NAMES)
    except LocalTritonUnavailableError as exc:
        pytest.skip(str(exc))
    try:
        server.start()
    except LocalTritonUnavailableError as exc:
        pytest.skip(f"local tritonserver unavailable: {exc}")
    yield server
    server.stop()


def _frame(gateway: Any, name: str) -> Any:
    response = gateway.client().post(
        f"/v1/frame{QUERY}",
        content=(DATA / "frames" / name).read_bytes(),
        headers={"Content-Type": "image/png" if name.endswith(".png") else "image/jpeg"},
    )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_triton_landmarker_and_blendshapes_match_embedded(
    landmarker_triton: LocalTriton,
    live_server: Callable[[Mapping[str, str]], Any],
    protocol: str,
) -> None:
    triton = live_server(gateway_settings(landmarker_triton, protocol, **LANDMARKER))
    embedded = live_server({**SAME_RUNTIME, **LANDMARKER})
    for name in ("lenna.png", "dlib_2008_001322.jpg"):
        got, want = _frame(triton, name), _frame(embedded, name)
        assert got["model"]["backend"] == "triton" and got["model"]["pipeline"] == "landmarker"
        assert len(got["faces"]) == len(want["faces"]) >= 1
        for face, reference in zip(got["faces"], want["faces"], strict=True):
            np.testing.assert_allclose(face["landmarks"], reference["landmarks"], atol=TOLERANCE_PX)
            np.testing.assert_allclose(
                list(face["blendshapes"].values()),
                list(reference["blendshapes"].values()),
                atol=1e-4,
            )
