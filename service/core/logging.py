"""Process logging set-up: text or JSON lines, each with the request ID
(``service.core.structured_logging``); uvicorn's loggers go through the same handler."""

from __future__ import annotations

from service.core import structured_logging


def configure_logging(level: str, fmt: str = "text") -> None:
    structured_logging.install(level, fmt)
