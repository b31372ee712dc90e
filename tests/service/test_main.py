"""The app ``service/main.py`` assembles, through a real server: no trailing-slash redirects
(a redirect built from the Host header, before authentication, was an open redirect)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest


@pytest.mark.parametrize("path", ["/v1/crop/", "/v1/crops/", "/v1/frame/", "/healthz/"])
def test_a_trailing_slash_is_a_404_json_never_a_redirect(gateway: Any, path: str) -> None:
    with httpx.Client(base_url=gateway.base_url, follow_redirects=False) as client:
        method = "GET" if path == "/healthz/" else "POST"
        response = client.request(method, path, headers={"Host": "evil.example"}, content=b"x")
    assert response.status_code == 404, response.headers
    assert "location" not in response.headers
    assert response.json()["error"]["code"] == "not_found"


def test_the_demo_folder_redirect_is_relative(gateway: Any) -> None:
    with httpx.Client(base_url=gateway.base_url, follow_redirects=False) as client:
        response = client.get("/demo", headers={"Host": "evil.example"})
    assert response.status_code == 307 and response.headers["location"] == "/demo/"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize("path", ["/metrics", "/metrics/"])
def test_metrics_only_answer_reads(gateway: Any, method: str, path: str) -> None:
    with httpx.Client(base_url=gateway.base_url) as client:
        response = client.request(method, path, content=b"x")
        assert response.status_code == 405
        assert response.headers["allow"] == "GET, HEAD"
        assert response.json()["error"]["code"] == "method_not_allowed"
        for read in ("GET", "HEAD"):
            assert client.request(read, path).status_code == 200
