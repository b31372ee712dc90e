"""``service/api/request_id.py``: the ID each request gets, its echo and the access-log line,
on a real Starlette app wrapped in the middleware."""

from __future__ import annotations

import logging

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from service.api.request_id import HEADER, RequestIdMiddleware, choose_request_id
from service.core.logging import request_id


async def _echo(_: Request) -> PlainTextResponse:
    """Answers with the ID the log records of this request carry."""
    return PlainTextResponse(request_id.get() or "", status_code=201)


def _client(access_log: bool = True) -> TestClient:
    app = Starlette(routes=[Route("/echo", _echo)])
    return TestClient(RequestIdMiddleware(app, access_log=access_log))


@pytest.mark.parametrize("token", ["abc", "A-Z.a_z:0-9", "x" * 128])
def test_a_sane_client_id_is_kept(token: str) -> None:
    assert choose_request_id(token) == token


@pytest.mark.parametrize("token", [None, "", "has space", "x" * 129, "semi;colon", "é"])
def test_anything_else_gets_a_fresh_uuid(token: str | None) -> None:
    chosen = choose_request_id(token)
    assert chosen != token and len(chosen) == 32 and int(chosen, 16) >= 0


def test_the_id_is_echoed_once_and_is_the_log_records_id() -> None:
    with _client() as client:
        kept = client.get("/echo", headers={HEADER: "trace-1"})
        fresh = client.get("/echo", headers={HEADER: "bad id"})
    assert kept.headers.get_list(HEADER) == ["trace-1"] and kept.text == "trace-1"
    assert fresh.headers[HEADER] == fresh.text and fresh.text != "bad id"


def test_the_access_log_line_names_the_request(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="service.access"), _client() as client:
        client.get("/echo", headers={HEADER: "trace-2"})
        client.get("/missing", headers={HEADER: "trace-3"})
    lines = [r for r in caplog.records if r.name == "service.access"]
    assert [(r.method, r.path, r.status) for r in lines] == [  # type: ignore[attr-defined]
        ("GET", "/echo", 201),
        ("GET", "/missing", 404),
    ]
    assert all(r.duration_ms >= 0 for r in lines)  # type: ignore[attr-defined]


def test_no_access_log_when_it_is_off(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="service.access"), _client(False) as client:
        assert client.get("/echo").status_code == 201
    assert [r for r in caplog.records if r.name == "service.access"] == []
