"""Structured (JSON) logs and the request-ID context they carry.

``request_id`` is a context variable set per request by ``service.api.request_id``; Starlette
copies the context into its threadpool, so log records from decode/inference threads carry
the ID too. With ``FACEMESH_LOG_FORMAT=json`` every record (ours, uvicorn's) is one JSON
object per line::

    {"time": "2026-11-25T17:20:01.123Z", "level": "INFO", "logger": "service.access",
     "message": "POST /v1/crop 200", "request_id": "3f2a...", "method": "POST",
     "path": "/v1/crop", "status": 200, "duration_ms": 12.3, "client": "127.0.0.1"}
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

# Attributes every LogRecord has; anything else was passed with ``extra=`` and is emitted.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` (``-`` outside a request) for both formatters."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC), level, logger, message, request_id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None)
        if rid and rid != "-":
            payload["request_id"] = rid
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and key != "request_id" and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


def configure_logging(level: str, fmt: str = "text") -> None:
    """Configure the root logger (and route uvicorn's loggers through it), idempotently.

    ``fmt`` is ``"text"`` or ``"json"``. Called by ``python -m service`` and by the app
    factory, so spawned uvicorn workers are configured too.
    """
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, "_facemesh", False)), None)
    if handler is None:
        handler = logging.StreamHandler()
        handler._facemesh = True  # type: ignore[attr-defined]
        handler.addFilter(RequestIdFilter())
        for old in list(root.handlers):
            root.removeHandler(old)
        root.addHandler(handler)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True


# Refusals of hostile or broken clients (a refused handshake, an oversized header, a dropped
# upload) are logged at INFO on loggers that let through at most this many records of each
# message per period; the next one let through says how many were dropped. Anyone can make a
# refusal, so without this anyone could fill the disk; the metrics still count every one.
REFUSAL_LOG_BURST = 10
REFUSAL_LOG_PERIOD_S = 10.0
_MAX_TEMPLATES = 1024  # bound on the filter's memory if messages are not templates


class RateLimitFilter(logging.Filter):
    """Lets at most ``burst`` records of each message template (``record.msg``) through per
    ``period_s``; drops the rest and counts them. The first record let through after some
    were dropped carries ``suppressed`` (the count, also appended to its message)."""

    def __init__(
        self,
        burst: int = REFUSAL_LOG_BURST,
        period_s: float = REFUSAL_LOG_PERIOD_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.burst = burst
        self.period_s = period_s
        self._clock = clock
        self._lock = threading.Lock()
        # template -> [window start, records let through in it, records dropped since]
        self._windows: dict[str, list[float]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = str(record.msg)
        now = self._clock()
        with self._lock:
            window = self._windows.get(key)
            if window is None:
                if len(self._windows) >= _MAX_TEMPLATES:
                    self._windows.clear()
                window = self._windows[key] = [now, 0, 0]
            if now - window[0] >= self.period_s:
                window[0], window[1] = now, 0
            if window[1] >= self.burst:
                window[2] += 1
                return False
            window[1] += 1
            dropped, window[2] = int(window[2]), 0
        if dropped:
            record.msg = f"{record.msg} ({dropped} similar lines dropped before this one)"
            record.suppressed = dropped
        return True


def refusal_logger(name: str) -> logging.Logger:
    """The logger ``name`` with a ``RateLimitFilter`` (added once): for refusals of clients."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, RateLimitFilter) for f in logger.filters):
        logger.addFilter(RateLimitFilter())
    return logger
