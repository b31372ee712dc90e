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
