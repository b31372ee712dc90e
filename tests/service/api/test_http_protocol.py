"""``service/api/http_protocol.py`` against oversized, unfinished and unparsable requests on
a real ``python -m service`` (raw sockets on loopback): header size and count limits (431),
the header timeout (408), silent connections closed, unparsable HTTP a JSON 400, and good
requests on a kept-alive connection unharmed."""

from __future__ import annotations

import time
from typing import Any

import pytest

from service.core.logging import REFUSAL_LOG_BURST, REFUSAL_LOG_PERIOD_S
from tests.service.api.slow_clients import (
    TIMEOUT_S,
    connection,
    metric,
    read_response,
)


@pytest.mark.parametrize(
    "extra",
    [
        b"X-Big: " + b"a" * 20_000 + b"\r\n",
        b"".join(b"X-H%d: v\r\n" % i for i in range(60)),
    ],
    ids=["one-20kb-header", "60-headers"],
)
def test_oversized_headers_get_431(slow_gateway: Any, extra: bytes) -> None:
    with connection(slow_gateway) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + extra + b"\r\n")
        status, raw = read_response(sock)
    assert status == 431, raw[:200]
    assert b'"headers_too_large"' in raw


def test_an_unfinished_header_is_cut_off_at_the_limit(slow_gateway: Any) -> None:
    """The server stops reading at the limit (431 and close) instead of buffering 20 MB."""
    with connection(slow_gateway) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Endless: ")
        sent = 0
        try:
            while sent < 20 * 1024 * 1024:
                sock.sendall(b"a" * 65536)
                sent += 65536
        except OSError:  # reset once the server closed: it stopped reading
            pass
        status, raw = read_response(sock)
    assert sent < 20 * 1024 * 1024
    assert status in (431, 0)  # 0: the reset came before the 431 could be read
    if status:
        assert b'"headers_too_large"' in raw


def test_unfinished_headers_time_out_with_408(slow_gateway: Any) -> None:
    with connection(slow_gateway) as sock:
        sock.sendall(b"POST /v1/crop HTTP/1.1\r\nHost: x\r\n")
        status, raw = read_response(sock)
    assert status == 408 and b'"header_timeout"' in raw


def test_a_silent_connection_is_closed(slow_gateway: Any) -> None:
    with connection(slow_gateway) as sock:
        # b"" once the server closes (uvicorn alone keeps it open: the read times out).
        assert sock.recv(1) == b""


def test_good_requests_on_a_kept_alive_connection_still_work(slow_gateway: Any) -> None:
    """The header clock restarts per request: a keep-alive client is not cut off."""
    with slow_gateway.new_client() as client:
        for _ in range(3):
            assert client.get("/healthz").status_code == 200
            time.sleep(TIMEOUT_S / 2)


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"POST /v1/crop HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,  # a TLS hello
        b"GET / HTTP/9.9\r\n\r\n",
    ],
    ids=["content-length-and-chunked", "tls-on-plain-port", "bad-version"],
)
def test_unparsable_http_gets_a_json_400(slow_gateway: Any, request_bytes: bytes) -> None:
    with connection(slow_gateway) as sock:
        sock.sendall(request_bytes)
        status, raw = read_response(sock)
    assert status == 400, raw[:200]
    assert b'"invalid_http_request"' in raw and b"application/json" in raw


def test_a_flood_of_unparsable_requests_is_counted_but_logged_rate_limited(
    slow_gateway: Any,
) -> None:
    """Every refusal is counted; the log gets at most a burst of lines per period (before,
    one INFO line each: anyone could fill the disk)."""
    flood = 120
    before_log = len(slow_gateway.log())
    before = metric(slow_gateway, "facemesh_errors_total", code="invalid_http_request")
    start = time.monotonic()
    for _ in range(flood):
        with connection(slow_gateway) as sock:
            sock.sendall(b"GET / HTTP/9.9\r\n\r\n")
            assert read_response(sock)[0] == 400
    elapsed = time.monotonic() - start
    after = metric(slow_gateway, "facemesh_errors_total", code="invalid_http_request")
    assert after == before + flood
    lines = [
        line
        for line in slow_gateway.log()[before_log:].splitlines()
        if "400 invalid_http_request from" in line
    ]
    # A bound that grows with the time the flood took (not an assertion on that time).
    windows = int(elapsed // REFUSAL_LOG_PERIOD_S) + 2
    assert 0 < len(lines) <= REFUSAL_LOG_BURST * windows


def test_an_upgrade_we_do_not_speak_is_served_without_a_warning_each(slow_gateway: Any) -> None:
    """``Upgrade: h2c`` (or anything but websocket) is ignored and the request served; uvicorn
    logged a WARNING for each one, so anyone could write WARNING lines at will."""
    before_log = len(slow_gateway.log())
    start = time.monotonic()
    for _ in range(30):
        with connection(slow_gateway) as sock:
            sock.sendall(
                b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, close\r\n"
                b"Upgrade: h2c\r\n\r\n"
            )
            assert read_response(sock)[0] == 200
    windows = int((time.monotonic() - start) // REFUSAL_LOG_PERIOD_S) + 2
    log = slow_gateway.log()[before_log:]
    assert "WARNING" not in log
    assert 0 < log.count("ignored: served as HTTP/1.1") <= REFUSAL_LOG_BURST * windows
