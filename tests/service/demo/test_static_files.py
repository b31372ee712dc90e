"""The demo's static files (``service/demo/__init__.py``) through a real server, requests sent
byte for byte: a folder redirect never names the request's Host, and a bad ``Range`` gets
the JSON error shape."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.service.rawhttp import exchange, get

CSS = "/demo/demo.css"


@pytest.mark.parametrize(
    "path",
    [
        "/demo",
        "/demo/.",
        "/demo/%2e",
        "/demo/%2E",
        "/demo/./.",
        "/demo/x/..",
        "/demo/index.html/..",
        "/demo//evil.example/..",
        "/demo/%2f%2fevil.example/..",
        "http://evil.example/demo/.",  # absolute form
    ],
)
def test_a_folder_redirect_is_relative_whatever_the_host(gateway: Any, path: str) -> None:
    status, headers, _ = exchange(gateway, get(path))
    assert status == 307
    assert headers["location"] == "/demo/"


@pytest.mark.parametrize(
    "path",
    [
        "/demo/..",
        "/demo/%2e%2e",
        "/demo/%2e%2e/%2e%2e/etc/passwd",
        "//demo",
        "//demo/",
        "/demo/%00",
    ],
)
def test_a_path_outside_the_folder_is_a_json_404_not_a_redirect(gateway: Any, path: str) -> None:
    status, headers, body = exchange(gateway, get(path))
    assert status == 404 and "location" not in headers
    assert json.loads(body)["error"]["code"] == "not_found"


@pytest.mark.parametrize("path", ["/demo/", "/demo/./", "/demo//", "/demo/%2f"])
def test_the_folder_itself_is_served(gateway: Any, path: str) -> None:
    status, headers, body = exchange(gateway, get(path))
    assert status == 200 and "location" not in headers
    assert body.lstrip().lower().startswith(b"<!doctype html>")


@pytest.mark.parametrize(
    "value", ["bytes=abc", "bytes=99999999-", "bytes=5-2", "bytes=--5", "bytes=", "bytes=,,-"]
)
def test_a_range_the_file_cannot_serve_is_a_json_416(gateway: Any, value: str) -> None:
    status, headers, body = exchange(gateway, get(CSS, f"Range: {value}"))
    assert status == 416
    assert headers["content-type"] == "application/json"
    size = len(_whole(gateway))
    assert headers["content-range"] == f"bytes */{size}"
    assert json.loads(body)["error"]["code"] == "range_not_satisfiable"


@pytest.mark.parametrize("value", ["items=0-1", "garbage", "=0-1"])
def test_a_range_in_another_unit_is_ignored(gateway: Any, value: str) -> None:
    status, _, body = exchange(gateway, get(CSS, f"Range: {value}"))
    assert status == 200 and body == _whole(gateway)


def test_a_good_range_is_still_served(gateway: Any) -> None:
    status, headers, body = exchange(gateway, get(CSS, "Range: bytes=0-9"))
    assert status == 206 and body == _whole(gateway)[:10]
    assert headers["content-range"].startswith("bytes 0-9/")


def _whole(gateway: Any) -> bytes:
    status, _, body = exchange(gateway, get(CSS))
    assert status == 200
    return body
