"""The hostile-input corpus (``tools/hostile.py``) against a real ``python -m service``, on
HTTP, WebSocket and gRPC: every probe answered with a 4xx JSON error, a success, a closed
connection, a WebSocket close code or a gRPC status; no 5xx (gRPC: UNKNOWN, INTERNAL), no
redirect, no WebSocket dropped without a close code, no crash, no traceback in the log; the
server still ready; its peak RSS (VmHWM) under the memory budget of docs/operations.md.
And every JPEG coding process in every decode mode on every transport
(``tools/decode_matrix.py``): the process alive after each."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tools.decode_matrix import (
    TRANSPORT_MODES,
    header_flood_cases,
    jpeg_cases,
    run_matrix,
    side_cases,
)
from tools.hostile import CORPUS_SETTINGS, corpus_settings, probes, run_corpus
from tools.memory_budget import MIB, WORKING_MEMORY_MIB, memory_budget_mib, settings_from_env


@pytest.fixture(scope="module")
def corpus_gateway(model_path: Any, live_server: Any) -> Any:
    return live_server(corpus_settings())


def test_the_corpus_covers_every_kind_of_attack() -> None:
    corpus = probes()
    kinds = {probe.kind for probe in corpus}
    assert kinds == {
        "images",
        "multipart",
        "query",
        "headers",
        "protocol",
        "slow",
        "websocket",
        "grpc",
    }
    assert len(corpus) >= 450
    assert len({probe.name for probe in corpus}) == len(corpus)  # names identify probes
    assert [p.name for p in probes(seed=13)] == [p.name for p in corpus]  # deterministic


def test_no_probe_gets_a_5xx_or_hurts_the_server(corpus_gateway: Any) -> None:
    report = run_corpus(corpus_gateway)
    print(json.dumps(report.summary(), indent=2))  # pytest -s: the README's numbers
    assert report.alive and report.healthy
    assert report.server_errors == []
    assert report.non_json_errors == []
    assert report.redirects == []
    assert report.dropped == []
    assert report.tracebacks == 0
    assert report.outcomes["408"] >= 1 and report.outcomes["431"] >= 1
    for outcome in ("ws:1007", "ws:1008", "grpc:INVALID_ARGUMENT", "grpc:ABORTED"):
        assert report.outcomes[outcome] >= 1, outcome
    assert report.outcomes["grpc:DEADLINE_EXCEEDED"] >= 1
    assert report.outcomes["grpc:RESOURCE_EXHAUSTED"] >= 2  # oversized, flood of waiters
    # docs/operations.md "Memory budget", with this process's own RSS at ready.
    budget = memory_budget_mib(settings_from_env(CORPUS_SETTINGS), report.hwm_start_mb)
    assert report.hwm_end_mb < budget, (report.hwm_end_mb, budget)
    # Tighter: the corpus sends at most 4 requests at once, so the bodies term is 4 bodies.
    settings = settings_from_env(CORPUS_SETTINGS)
    growth = (settings.decode_memory_bytes + 4 * settings.max_body_bytes) / MIB
    assert report.hwm_end_mb - report.hwm_start_mb < growth + WORKING_MEMORY_MIB


def test_every_jpeg_process_in_every_decode_mode_on_every_transport(
    model_path: Any, grpc_live_server: Any
) -> None:
    """Only 8-bit Huffman DCT JPEGs (SOF0/1/2) are decoded, scaled or reduced where the path
    allows; every other process and broken frame header gets its code before any pixel is
    decoded, the same on every transport, and the gateway is alive after each."""
    server, target = grpc_live_server({})
    outcomes = run_matrix(server, target)
    cases = jpeg_cases()
    assert len(outcomes) == len(cases) * len(TRANSPORT_MODES)  # nobody died half-way
    assert all(o.alive for o in outcomes)
    assert [o for o in outcomes if not o.ok] == []
    decoded = {o.case for o in outcomes if o.got is None}
    assert decoded == {"sof0-baseline", "sof1-extended", "sof2-progressive"}


def test_every_side_within_the_limits_gets_an_answer_on_every_transport(
    model_path: Any, grpc_live_server: Any
) -> None:
    """Up to 32766 px a side (OpenCV's warp limit, docs/operations.md "Limits") an answer; past
    it 413 image_too_large before decoding, on every transport, never a 500 or a drop."""
    server, target = grpc_live_server({})
    outcomes = run_matrix(server, target, side_cases())
    assert len(outcomes) == len(side_cases()) * len(TRANSPORT_MODES)
    assert [o for o in outcomes if not o.ok] == []


def test_hostile_headers_are_refused_from_the_header_on_every_transport(
    model_path: Any, grpc_live_server: Any
) -> None:
    """Empty APP15/COM segments, fill bytes and empty PNG chunks by the ten thousand (what no
    encoder writes): 422 unsupported_image_header on every transport."""
    server, target = grpc_live_server({})
    cases = header_flood_cases()
    outcomes = run_matrix(server, target, cases)
    assert len(outcomes) == len(cases) * len(TRANSPORT_MODES)
    assert [o for o in outcomes if not o.ok] == []
