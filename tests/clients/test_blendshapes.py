"""The client's ``model=`` and ``blendshapes=`` options (sync, async, gRPC) against a real
gateway with the landmarker loaded: the server's answers, parsed; the names agree with the
server's contract."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from facemesh_client import BLENDSHAPE_NAMES, AsyncClient, Client
from facemesh_client.grpc_tracking import GrpcTracker

from service import contract
from tools.servers.gateway import LiveServer

DATA = Path(__file__).resolve().parents[1] / "data"
FACE = DATA / "frames" / "lenna.png"
CROP = DATA / "crops" / "dlib_2008_001009_face0.png"
SETTINGS = {"FACEMESH_EXTRA_PIPELINES": "landmarker"}


@pytest.fixture(scope="module")
def landmarker_gateway(
    model_path: Path, grpc_live_server: Callable[..., tuple[LiveServer, str]]
) -> tuple[LiveServer, str]:
    return grpc_live_server(SETTINGS)


def test_the_clients_names_are_the_servers() -> None:
    assert BLENDSHAPE_NAMES == contract.BLENDSHAPE_NAMES


def test_sync_client_options(landmarker_gateway: tuple[LiveServer, str]) -> None:
    server, _ = landmarker_gateway
    with Client(server.base_url) as client:
        frame = client.frame(FACE.read_bytes(), model="landmarker", blendshapes=True)
        assert frame.model.pipeline == "landmarker"
        (face,) = frame.faces
        assert face.blendshapes is not None and list(face.blendshapes) == list(BLENDSHAPE_NAMES)
        plain = client.frame(FACE.read_bytes())
        assert plain.model.pipeline == "attention" and plain.faces[0].blendshapes is None
        crops = client.crops([CROP.read_bytes()] * 2, model="landmarker", blendshapes=True)
        assert all(each.blendshapes is not None for each in crops.faces)
        single = client.crop(CROP.read_bytes(), blendshapes=True)
        assert single.faces[0].blendshapes is not None
        tracked = list(client.track([FACE.read_bytes()] * 2, model="landmarker", blendshapes=True))
        assert [t.detector_ran for t in tracked] == [True, False]
        assert all(t.faces[0].blendshapes is not None for t in tracked)
        assert tracked[0].model.pipeline == "landmarker"


def test_async_client_options(landmarker_gateway: tuple[LiveServer, str]) -> None:
    server, _ = landmarker_gateway

    async def run() -> tuple[Any, list[Any]]:
        async with AsyncClient(server.base_url) as client:
            frame = await client.frame(FACE.read_bytes(), model="landmarker", blendshapes=True)
            tracked = [
                result
                async for result in client.track(
                    [FACE.read_bytes()], model="landmarker", blendshapes=True
                )
            ]
            return frame, tracked

    frame, tracked = asyncio.run(run())
    scores = frame.faces[0].blendshapes
    assert scores is not None and len(scores) == 52
    assert tracked[0].faces[0].blendshapes == pytest.approx(scores, abs=1e-4)


def test_grpc_tracker_options(landmarker_gateway: tuple[LiveServer, str]) -> None:
    server, target = landmarker_gateway
    with GrpcTracker(target) as tracker:
        results = list(tracker.track([FACE.read_bytes()] * 2, model="landmarker", blendshapes=True))
    with Client(server.base_url) as client:
        websocket = list(
            client.track([FACE.read_bytes()] * 2, model="landmarker", blendshapes=True)
        )
    for got, want in zip(results, websocket, strict=True):
        scores, reference = got.faces[0].blendshapes, want.faces[0].blendshapes
        assert scores is not None and reference is not None
        assert list(scores) == list(BLENDSHAPE_NAMES)
        np.testing.assert_allclose(list(scores.values()), list(reference.values()), atol=1e-5)
        assert got.faces[0].regions is not None
        assert got.faces[0].regions.lips is not None and got.faces[0].regions.lips.affine is None
