"""The hostile-input corpus (``tools/hostile.py``) against a real ``python -m service``:
every probe answered with a 4xx JSON error, a success, or a closed connection; no 5xx, no
crash, no traceback in the log; the server still ready; RSS bounded by the decode budget."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tools.hostile import CORPUS_SETTINGS, probes, run_corpus

MIB = 1024 * 1024
DECODE_BUDGET_MB = int(CORPUS_SETTINGS["FACEMESH_DECODE_MEMORY_BYTES"]) / MIB
SLACK_MB = 200  # bodies, crops, model calls and buffers besides decoded images


@pytest.fixture(scope="module")
def corpus_gateway(model_path: Any, live_server: Any) -> Any:
    return live_server(CORPUS_SETTINGS)


def test_the_corpus_covers_every_kind_of_attack() -> None:
    corpus = probes()
    kinds = {probe.kind for probe in corpus}
    assert kinds == {"images", "multipart", "query", "headers", "protocol", "slow", "websocket"}
    assert len(corpus) >= 450
    assert len({probe.name for probe in corpus}) == len(corpus)  # names identify probes
    assert [p.name for p in probes(seed=13)] == [p.name for p in corpus]  # deterministic


def test_no_probe_gets_a_5xx_or_hurts_the_server(corpus_gateway: Any) -> None:
    report = run_corpus(corpus_gateway)
    print(json.dumps(report.summary(), indent=2))  # pytest -s: the README's numbers
    assert report.alive and report.healthy
    assert report.server_errors == []
    assert report.non_json_errors == []
    assert report.tracebacks == 0
    assert report.outcomes["408"] >= 1 and report.outcomes["431"] >= 1
    assert report.rss_peak_mb - report.rss_start_mb < DECODE_BUDGET_MB + SLACK_MB
