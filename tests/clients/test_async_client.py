"""``facemesh_client.AsyncClient`` against real gateways: the same calls as the blocking client,
awaited, plus concurrent requests on one pool and tracking as an async iterator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import numpy as np
import pytest
from facemesh_client import AsyncClient, FrameResult, errors
from PIL import Image

from tests.clients.helpers import (
    API_KEY,
    CROPS,
    FRAMES,
    HeldSlot,
    assert_crop_matches_golden,
    assert_frame_matches_golden,
    crop_goldens,
    frame_goldens,
    overloaded_count,
)

GOLDENS = crop_goldens()
FRAME_GOLDENS = frame_goldens()
T = TypeVar("T")


def run(base_url: str, body: Callable[[AsyncClient], Awaitable[T]], **options: Any) -> T:
    """``body(client)`` on a fresh ``AsyncClient`` in a fresh event loop."""

    async def main() -> T:
        async with AsyncClient(base_url, **options) as client:
            return await body(client)

    return asyncio.run(main())


def test_crop_and_crops_match_the_goldens(gateway: Any) -> None:
    names = ["lenna_face0", "takeo_face0", "dlib_2009_004587_face1"]

    async def body(client: AsyncClient) -> tuple[Any, Any]:
        single = await client.crop(CROPS / "lenna_face0.png")
        batch = await client.crops([CROPS / f"{name}.png" for name in names])
        return single, batch

    single, batch = run(gateway.base_url, body)
    assert single.request_id and single.request_id != batch.request_id
    assert_crop_matches_golden(single.faces[0].landmarks, GOLDENS["lenna_face0"])
    for name, face in zip(names, batch.faces, strict=True):
        assert_crop_matches_golden(face.landmarks, GOLDENS[name])


def test_concurrent_calls_equal_sequential_ones(gateway: Any) -> None:
    names = ["lenna_face0", "takeo_face0", "grace_hopper_face0", "dlib_2008_001009_face1"]

    async def body(client: AsyncClient) -> list[Any]:
        return list(await asyncio.gather(*(client.crop(CROPS / f"{n}.png") for n in names)))

    for name, result in zip(names, run(gateway.base_url, body), strict=True):
        assert_crop_matches_golden(result.faces[0].landmarks, GOLDENS[name])


def test_frame_with_each_input_type(gateway: Any) -> None:
    path = FRAMES / "grace_hopper.jpg"
    with Image.open(path) as image:
        rgb = np.asarray(image.convert("RGB"))

    async def body(client: AsyncClient) -> list[Any]:
        inputs: list[Any] = [path, str(path), path.read_bytes(), rgb, Image.fromarray(rgb)]
        return [await client.frame(image) for image in inputs]

    results = run(gateway.base_url, body)
    for result in results:
        found = [f.landmarks for f in result.faces if f.landmarks is not None]
        assert_frame_matches_golden(found, FRAME_GOLDENS["grace_hopper.jpg"])
    # The array and the PIL image hold the JPEG's decoded pixels: identical to each other.
    np.testing.assert_array_equal(results[3].faces[0].landmarks, results[4].faces[0].landmarks)


def test_track_is_an_async_iterator(gateway: Any) -> None:
    async def frames() -> AsyncIterator[Any]:
        for name in ["lenna.png", "lenna.png", "dlib_2008_002506.jpg"]:
            await asyncio.sleep(0)
            yield FRAMES / name

    async def body(client: AsyncClient) -> list[Any]:
        return [result async for result in client.track(frames(), max_faces=3)]

    results = run(gateway.base_url, body)
    assert [type(r) for r in results] == [FrameResult] * 3
    lenna = [f.landmarks for f in results[0].faces if f.landmarks is not None]
    assert_frame_matches_golden(lenna, FRAME_GOLDENS["lenna.png"])
    assert results[0].detector_ran and results[1].faces[0].detection is None
    group = [f.landmarks for f in results[2].faces if f.landmarks is not None]
    assert len(group) == 3


def test_track_errors(gateway: Any, guarded_gateway: Any) -> None:
    frames: list[Any] = [FRAMES / "takeo.png", b"junk", FRAMES / "takeo.png"]

    async def lenient(client: AsyncClient) -> list[Any]:
        return [r async for r in client.track(frames, return_errors=True)]

    results = run(gateway.base_url, lenient)
    assert isinstance(results[1], errors.NotAnImage)
    assert isinstance(results[0], FrameResult) and isinstance(results[2], FrameResult)

    async def strict(client: AsyncClient) -> list[Any]:
        return [r async for r in client.track(frames)]

    with pytest.raises(errors.NotAnImage):
        run(gateway.base_url, strict)
    with pytest.raises(errors.Unauthorized):
        run(guarded_gateway.base_url, strict, api_key="wrong-key")


def test_errors_carry_status_and_request_id(gateway: Any, guarded_gateway: Any) -> None:
    async def tiny(client: AsyncClient) -> Any:
        return await client.crop(np.zeros((8, 8), np.uint8))

    with pytest.raises(errors.ImageTooSmall) as raised:
        run(gateway.base_url, tiny)
    assert raised.value.status == 422 and raised.value.request_id

    async def crop(client: AsyncClient) -> Any:
        return await client.crop(CROPS / "lenna_face0.png")

    with pytest.raises(errors.Unauthorized) as refused:
        run(guarded_gateway.base_url, crop)
    assert refused.value.status == 401 and refused.value.request_id
    face = run(guarded_gateway.base_url, crop, api_key=API_KEY).faces[0]
    assert_crop_matches_golden(face.landmarks, GOLDENS["lenna_face0"])


def test_overloaded_is_retried(guarded_gateway: Any) -> None:
    body_bytes = (CROPS / "lenna_face0.png").read_bytes()
    with HeldSlot(guarded_gateway, body_bytes) as held:
        before = overloaded_count(guarded_gateway)

        async def body(client: AsyncClient) -> Any:
            task = asyncio.create_task(client.crop(body_bytes))
            for _ in range(1200):  # release once the client was really refused
                if await asyncio.to_thread(overloaded_count, guarded_gateway) > before:
                    break
                await asyncio.sleep(0.05)
            refused = overloaded_count(guarded_gateway) - before
            held.release()
            return refused, await task

        # One retry a second (Retry-After) must outlast the held batch: a few seconds on a
        # quiet machine, 30 s or more on a loaded one.
        refused, result = run(guarded_gateway.base_url, body, api_key=API_KEY, max_retries=120)
    assert refused >= 1
    assert_crop_matches_golden(result.faces[0].landmarks, GOLDENS["lenna_face0"])

    async def once(client: AsyncClient) -> Any:
        return await client.crop(body_bytes)

    with HeldSlot(guarded_gateway, body_bytes), pytest.raises(errors.Overloaded) as raised:
        run(guarded_gateway.base_url, once, api_key=API_KEY, max_retries=0)
    assert raised.value.status == 503 and raised.value.retry_after == 1.0
