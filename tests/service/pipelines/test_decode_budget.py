"""DecodeBudget: the per-request limit before any pixel, the process-wide hold, the probe."""

from __future__ import annotations

import asyncio

import pytest

from service.core.config import Settings
from service.core.errors import InvalidImage, PayloadTooLarge
from service.core.memory import MemoryBudget
from service.pipelines.decode_budget import DecodeBudget
from tests.service.imagekit import raw_png


def _budget(capacity: int = 1000, request_bytes: int = 600) -> DecodeBudget:
    return DecodeBudget(
        MemoryBudget(capacity, timeout_s=60),
        request_bytes=request_bytes,
        min_side=32,
        max_pixels=1_000_000,
    )


def test_a_request_over_its_limit_is_refused_before_holding_anything() -> None:
    budget = _budget()

    async def scenario() -> None:
        with pytest.raises(PayloadTooLarge) as excinfo:
            async with budget.images([400, 201]):
                pass
        assert excinfo.value.code == "decode_budget_exceeded"
        assert budget.memory.used == 0

    asyncio.run(scenario())


def test_images_hold_their_costs_until_the_block_ends() -> None:
    budget = _budget()

    async def scenario() -> None:
        async with budget.images([200, 300]):
            assert budget.memory.used == 500
        assert budget.memory.used == 0
        with pytest.raises(InvalidImage):
            async with budget.images([100]):
                assert budget.memory.used == 100
                raise InvalidImage("corrupt_image", "decoding failed")
        assert budget.memory.used == 0

    asyncio.run(scenario())


def test_the_probe_applies_the_gateway_limits() -> None:
    budget = DecodeBudget.from_settings(Settings(max_image_pixels=10_000, min_image_side=32))
    header = budget.probe(raw_png(100, 50, 8, 2, None))
    assert (header.format, header.width, header.height) == ("PNG", 100, 50)
    with pytest.raises(PayloadTooLarge):
        budget.probe(raw_png(200, 100, 8, 2, None))
    with pytest.raises(InvalidImage, match="at least"):
        budget.probe(raw_png(100, 20, 8, 2, None))


def test_the_budget_decodes_what_it_probed_with_its_own_limits() -> None:
    """The limits are given once, to the budget: its ``probe`` and ``decode`` both use them
    (the pipelines pass none of their own)."""
    budget = _budget()
    data = raw_png(40, 36, 8, 2, None)
    header = budget.probe(data)
    decoded = budget.decode(data, header)
    assert decoded.pixels.shape == (36, 40, 3) and decoded.pixels.nbytes <= header.cost()
    with pytest.raises(InvalidImage):
        budget.probe(raw_png(20, 100, 8, 2, None))  # under min_side 32
