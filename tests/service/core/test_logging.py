"""``service/core/logging.py``: the rate limit on refusal loggers (a fake clock, real
``logging`` records through a real handler)."""

from __future__ import annotations

import logging

from service.core.logging import RateLimitFilter, refusal_logger


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
