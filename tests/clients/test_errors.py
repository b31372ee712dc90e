"""Error classes: one per server error code, mapping of real error bodies, retry policy."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from facemesh_client import _protocol as protocol
from facemesh_client import errors

from service.core.errors import ERROR_CODES

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_one_class_per_server_error_code() -> None:
    for code in ERROR_CODES:
        cls = errors.ERROR_CLASSES[code]
        assert cls.code == code and issubclass(cls, errors.FacemeshError)
        assert cls is not errors.FacemeshError
    assert len(set(errors.ERROR_CLASSES.values())) == len(errors.ERROR_CLASSES)


def test_every_code_of_the_readme_error_table_has_a_class() -> None:
    table = README.split("### Errors", 1)[1].split("\n## ", 1)[0]
    codes = set(re.findall(r"`([a-z_]+)`", table)) & set(ERROR_CODES)
    assert len(codes) >= 18
    assert codes <= set(errors.ERROR_CLASSES)


@pytest.mark.parametrize(
    ("status", "code", "family"),
    [
        (413, "body_too_large", errors.InvalidImage),
        (415, "unsupported_media_type", errors.InvalidImage),
        (422, "corrupt_image", errors.InvalidImage),
        (401, "unauthorized", errors.InvalidRequest),
        (404, "not_found", errors.InvalidRequest),
        (503, "overloaded", errors.RetryableError),
        (503, "backend_unavailable", errors.RetryableError),
        (500, "internal_error", errors.ServerError),
    ],
)
def test_error_bodies_map_to_their_class(
    status: int, code: str, family: type[errors.FacemeshError]
) -> None:
    content = f'{{"error": {{"code": "{code}", "message": "m"}}}}'.encode()
    error = errors.error_from_response(status, content, {"x-request-id": "abc", "retry-after": "2"})
    assert type(error) is errors.ERROR_CLASSES[code] and isinstance(error, family)
    assert (error.code, error.message, error.status, error.request_id) == (code, "m", status, "abc")
    assert error.retry_after == 2.0
    assert "abc" in str(error) and code in str(error)


def test_unknown_codes_and_bodies_fall_back_to_the_status_family() -> None:
    newer = errors.error_from_response(
        429, b'{"error": {"code": "rate_limited", "message": "slow"}}', {}
    )
    assert type(newer) is errors.InvalidRequest and newer.code == "rate_limited"
    proxy = errors.error_from_response(502, b"<html>Bad Gateway</html>", {})
    assert type(proxy) is errors.ServerError and proxy.status == 502 and "Bad Gateway" in str(proxy)
    odd = errors.error_from_response(503, b'["not", "an", "error"]', {})
    assert isinstance(odd, errors.RetryableError) and odd.code == "http_error"


def test_real_framework_errors_map(gateway: Any) -> None:
    client = gateway.client()
    for method, path, cls in [
        ("GET", "/v1/nope", errors.NotFound),
        ("GET", "/v1/crop", errors.MethodNotAllowed),
    ]:
        response = client.request(method, path)
        error = errors.error_from_response(response.status_code, response.content, response.headers)
        assert type(error) is cls and error.request_id == response.headers["x-request-id"]


def _options(**kwargs: Any) -> protocol.Options:
    return protocol.Options(base_url="http://localhost:8000", **kwargs)


def _error(code: str, status: int, retry_after: float | None) -> errors.FacemeshError:
    body = {"error": {"code": code, "message": ""}}
    return errors.error_from_body(body, status=status, retry_after=retry_after)


def test_retry_policy() -> None:
    options = _options(max_retries=2, max_retry_delay=5.0)
    overloaded = _error("overloaded", 503, 1.0)
    assert protocol.retry_delay(overloaded, 0, options) == 1.0
    assert protocol.retry_delay(overloaded, 1, options) == 1.0
    assert protocol.retry_delay(overloaded, 2, options) is None  # limit reached
    assert protocol.retry_delay(_error("backend_unavailable", 503, 60.0), 0, options) == 5.0
    no_header = protocol.retry_delay(_error("overloaded", 503, None), 0, options)
    assert no_header == protocol.DEFAULT_RETRY_DELAY_S
    for code, status in [("corrupt_image", 422), ("internal_error", 500), ("http_error", 503)]:
        assert protocol.retry_delay(_error(code, status, 1.0), 0, options) is None
    assert protocol.retry_delay(overloaded, 0, _options(max_retries=0)) is None


def test_retry_after_parsing() -> None:
    assert errors.parse_retry_after("1") == 1.0
    assert errors.parse_retry_after(" 2.5 ") == 2.5
    assert errors.parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None
    assert errors.parse_retry_after("-1") is None
    assert errors.parse_retry_after(None) is None


def test_options_validate() -> None:
    with pytest.raises(ValueError):
        _options(max_retries=-1)
    with pytest.raises(ValueError):
        protocol.Options(base_url="localhost:8000")


def test_track_url_and_subprotocols() -> None:
    options = protocol.Options(base_url="https://mesh.example/api", api_key="k")
    url = protocol.track_url(options, 2, True, {"smoothing": False})
    assert url == "wss://mesh.example/api/v1/track?max_faces=2&rotation_search=true&smoothing=false"
    assert protocol.track_subprotocols(options, False) == ["facemesh.v1"]
    assert protocol.track_subprotocols(options, True) == ["facemesh.v1", "apikey.k"]
    assert protocol.track_headers(options, False) == {"X-API-Key": "k"}
    assert protocol.track_headers(options, True) == {}
