"""``service/core/logging.py``: the rate limit on refusal loggers (a fake clock, real
``logging`` records through a real handler); one JSON object per record with the request ID
and extras, the ID in text lines, and a configuration that can run twice without doubling
handlers."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator

import pytest

from service.core.logging import (
    JsonFormatter,
    RateLimitFilter,
    RequestIdFilter,
    configure_logging,
    refusal_logger,
    request_id,
)


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _logger(name: str, rate: RateLimitFilter) -> tuple[logging.Logger, _Collect]:
    logger = logging.getLogger(name)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.filters.clear()
    logger.addFilter(rate)
    collect = _Collect()
    logger.handlers = [collect]
    return logger, collect


def test_a_burst_passes_then_the_rest_is_dropped_and_counted() -> None:
    clock = _Clock()
    logger, collect = _logger("test.rate.burst", RateLimitFilter(3, 10.0, clock))
    for i in range(1000):
        logger.info("refused %s", i)
    assert [r.getMessage() for r in collect.records] == ["refused 0", "refused 1", "refused 2"]
    clock.now = 10.0  # the next window
    logger.info("refused %s", "late")
    last = collect.records[-1]
    assert last.getMessage() == "refused late (997 similar lines dropped before this one)"
    assert getattr(last, "suppressed", None) == 997
    logger.info("refused %s", "again")
    assert collect.records[-1].getMessage() == "refused again"  # the count is said once


def test_each_message_template_has_its_own_budget() -> None:
    clock = _Clock()
    logger, collect = _logger("test.rate.templates", RateLimitFilter(2, 10.0, clock))
    for _ in range(5):
        logger.info("one %d", 1)
        logger.warning("two %d", 2)
    assert [r.getMessage() for r in collect.records] == ["one 1", "two 2", "one 1", "two 2"]


def test_refusal_logger_adds_its_filter_once() -> None:
    logger = refusal_logger("test.rate.once")
    assert refusal_logger("test.rate.once") is logger
    assert sum(isinstance(f, RateLimitFilter) for f in logger.filters) == 1


def _record(message: str = "POST /v1/crop %d", **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("service.access", logging.INFO, __file__, 1, message, (200,), None)
    record.__dict__.update(extra)
    RequestIdFilter().filter(record)
    return record


@pytest.fixture
def restored_root() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)


def test_a_json_record_carries_the_request_id_and_the_extras() -> None:
    token = request_id.set("trace-9")
    try:
        line = JsonFormatter().format(_record(status=200, duration_ms=1.5))
    finally:
        request_id.reset(token)
    payload = json.loads(line)
    assert payload["message"] == "POST /v1/crop 200"
    assert (payload["logger"], payload["level"]) == ("service.access", "INFO")
    assert (payload["request_id"], payload["status"], payload["duration_ms"]) == (
        "trace-9",
        200,
        1.5,
    )
    assert payload["time"].endswith("+00:00")


def test_outside_a_request_there_is_no_id() -> None:
    record = _record()
    assert record.request_id == "-"  # type: ignore[attr-defined]
    assert "request_id" not in json.loads(JsonFormatter().format(record))


def test_an_exception_is_written_with_its_traceback() -> None:
    try:
        raise ValueError("broken")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    assert "ValueError: broken" in json.loads(JsonFormatter().format(record))["exception"]


def test_configuring_twice_keeps_one_handler_and_takes_the_new_format(
    restored_root: logging.Logger,
) -> None:
    configure_logging("info", "text")
    configure_logging("warning", "json")
    ours = [h for h in restored_root.handlers if getattr(h, "_facemesh", False)]
    assert len(ours) == 1
    assert isinstance(ours[0].formatter, JsonFormatter)
    assert restored_root.level == logging.WARNING
    assert logging.getLogger("uvicorn.access").propagate
