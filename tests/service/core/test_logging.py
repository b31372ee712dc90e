"""``service/core/logging.py``: one JSON object per record with the request ID and extras,
the ID in text lines, and a configuration that can run twice without doubling handlers."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator

import pytest

from service.core.logging import JsonFormatter, RequestIdFilter, configure_logging, request_id


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
    assert len(ours) == 1 and len(restored_root.handlers) == 1
    assert isinstance(ours[0].formatter, JsonFormatter)
    assert restored_root.level == logging.WARNING
    assert logging.getLogger("uvicorn.access").propagate
