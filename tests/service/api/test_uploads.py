"""``service/api/uploads.py`` against slow, stalled and dropped clients on a real
``python -m service`` (raw sockets on loopback): admission only once the body is in, the body
idle and whole-body timeouts (408), a dropped upload is logged and counted, never a 500."""

from __future__ import annotations

import time
from contextlib import ExitStack
from typing import Any

from tests.service.api.slow_clients import (
    GOOD,
    READ_LIMIT_S,
    STALLED,
    TIMEOUT_S,
    connection,
    metric,
    post_head,
    read_response,
)


def test_stalled_uploads_hold_no_slot_and_time_out_with_408(slow_gateway: Any) -> None:
    with ExitStack() as stack:
        stalled = [stack.enter_context(connection(slow_gateway)) for _ in range(STALLED)]
        for index, sock in enumerate(stalled):
            # Half of them send part of the body before stalling.
            sock.sendall(post_head() + (b"\x89PNG" * 100 if index % 2 else b""))
        time.sleep(0.5)
        with slow_gateway.new_client() as client:
            for _ in range(3):
                good = client.post("/v1/crop", content=GOOD, headers={"Content-Type": "image/png"})
                assert good.status_code == 200, good.text
        answers = [read_response(sock) for sock in stalled]
    assert {status for status, _ in answers} == {408}, answers[:2]
    assert all(b'"body_timeout"' in raw for _, raw in answers)
    assert all(b"connection: close" in raw.lower() for _, raw in answers)
    assert "body_timeout" in slow_gateway.log()  # logged (INFO)


def test_a_trickling_upload_meets_the_whole_body_deadline(slow_gateway: Any) -> None:
    with connection(slow_gateway) as sock:
        sock.sendall(post_head())
        start = time.monotonic()
        # One byte per half idle-timeout: never idle for long, but far too slow overall.
        while time.monotonic() - start < 3 * TIMEOUT_S:
            try:
                sock.sendall(b"x")
            except OSError:
                break
            time.sleep(TIMEOUT_S / 2)
        status, raw = read_response(sock)
    assert status == 408 and b'"body_timeout"' in raw


def test_a_dropped_upload_is_logged_and_counted_not_a_500(slow_gateway: Any) -> None:
    before_500 = metric(
        slow_gateway, "facemesh_http_requests_total", endpoint="/v1/crop", status="500"
    )
    before_internal = metric(slow_gateway, "facemesh_errors_total", code="internal_error")
    before = metric(slow_gateway, "facemesh_client_disconnects_total", endpoint="/v1/crop")
    for _ in range(3):
        with connection(slow_gateway) as sock:
            sock.sendall(post_head(length=len(GOOD)) + GOOD[: len(GOOD) // 2])
            time.sleep(0.2)
    deadline = time.monotonic() + READ_LIMIT_S
    while time.monotonic() < deadline:
        after = metric(slow_gateway, "facemesh_client_disconnects_total", endpoint="/v1/crop")
        if after >= before + 3:
            break
        time.sleep(0.1)
    assert after == before + 3
    assert (
        metric(slow_gateway, "facemesh_http_requests_total", endpoint="/v1/crop", status="500")
        == before_500
    )
    assert metric(slow_gateway, "facemesh_errors_total", code="internal_error") == before_internal
    log = slow_gateway.log()
    assert "Traceback" not in log and "ERROR" not in log
    assert "client disconnected" in log
