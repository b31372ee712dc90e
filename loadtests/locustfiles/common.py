"""Locust plumbing shared by the locustfiles: loopback guard, request bound, per-request log.

Imported by each locustfile (``from loadtests.locustfiles.common import ...``), which
registers these event hooks once per process:

- ``--max-requests N`` (env ``LOCUST_MAX_REQUESTS``): stop the run after N requests, whatever
  the duration; 0 = no bound. With the user count and duration (``-u``/``-t``, or the step
  shape in ``shape.py``) every run is bounded.
- the target host must be a loopback address (127.0.0.0/8, ::1, localhost); anything else
  stops the run before the first request.
- ``--requests-csv PATH`` (env ``LOCUST_REQUESTS_CSV``): one row per request (start time,
  name, latency, items, success, users) for the runner's latency-vs-throughput plot.
"""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path
from typing import Any

from locust import events
from locust.env import Environment
from locust.runners import Runner

from loadtests.wire import is_loopback_url

REQUEST_LOG_FIELDS = ("start", "name", "response_ms", "items", "success", "users")
_request_log: list[tuple[float, str, float, int, int, int]] = []
_quit_requested = False


@events.init_command_line_parser.add_listener
def _add_arguments(parser: Any) -> None:
    parser.add_argument(
        "--max-requests",
        type=int,
        default=0,
        env_var="LOCUST_MAX_REQUESTS",
        help="stop after this many requests (0: no bound)",
    )
    parser.add_argument(
        "--requests-csv",
        default="",
        env_var="LOCUST_REQUESTS_CSV",
        help="write one CSV row per request here at the end of the run",
    )


@events.init.add_listener
def _guard_loopback(environment: Environment, **_: Any) -> None:
    if environment.host and not is_loopback_url(environment.host):
        sys.stderr.write(f"refusing to load-test {environment.host}: loopback addresses only\n")
        if isinstance(environment.runner, Runner):
            environment.runner.quit()
        raise SystemExit(2)


@events.request.add_listener
def _on_request(
    request_type: str,
    name: str,
    response_time: float,
    exception: BaseException | None,
    context: dict[str, Any],
    **_: Any,
) -> None:
    environment = _on_request.environment  # type: ignore[attr-defined]
    runner = environment.runner
    users = runner.user_count if runner is not None else 0
    items = int(context.get("items", 1)) if context else 1
    start = time.time() - response_time / 1000.0
    _request_log.append((start, name, response_time, items, int(exception is None), users))
    limit = environment.parsed_options.max_requests if environment.parsed_options else 0
    global _quit_requested
    if limit and len(_request_log) >= limit and runner is not None and not _quit_requested:
        _quit_requested = True
        runner.quit()


@events.init.add_listener
def _remember_environment(environment: Environment, **_: Any) -> None:
    _on_request.environment = environment  # type: ignore[attr-defined]


@events.quitting.add_listener
def _write_request_log(environment: Environment, **_: Any) -> None:
    path = environment.parsed_options.requests_csv if environment.parsed_options else ""
    if not path:
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(REQUEST_LOG_FIELDS)
        for start, name, response_ms, items, success, users in _request_log:
            writer.writerow([f"{start:.6f}", name, f"{response_ms:.3f}", items, success, users])


def decode_json(response: Any) -> tuple[Any, str | None]:
    """The response's JSON body, or ``(None, reason)``."""
    try:
        return response.json(), None
    except (ValueError, TypeError) as exc:
        return None, f"body is not JSON: {exc}"
