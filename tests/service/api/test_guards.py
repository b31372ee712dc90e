"""API keys (off by default; on: /v1 needs one, health and metrics do not), request IDs,
CORS, JSON logs, through the real app."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketDenialResponse

from service.api.request_id import choose_request_id
from service.core.config import Settings
from service.core.logging import JsonFormatter, RequestIdFilter, request_id
from service.main import create_app
from tests.service.imagekit import crop_bytes

CROP = crop_bytes("dlib_2008_001009_face0")
PNG = {"Content-Type": "image/png"}


@pytest.fixture(scope="module")
def keyed_client(model_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        model_path=model_path,
        api_keys="k-one,k-two",  # type: ignore[arg-type]
        cors_allow_origins="https://app.example",  # type: ignore[arg-type]
    )
    with TestClient(create_app(settings)) as client:
        yield client


def test_api_keys_are_off_by_default(test_client: TestClient) -> None:
    assert Settings().api_keys == ()
    response = test_client.post("/v1/crop", content=CROP, headers=PNG)
    assert response.status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"}, {"Authorization": "k-one"}],
    ids=["missing", "wrong-header", "wrong-bearer", "no-scheme"],
)
def test_v1_needs_a_valid_key(keyed_client: TestClient, headers: dict[str, str]) -> None:
    for path in ("/v1/crop", "/v1/crops"):
        response = keyed_client.post(path, content=CROP, headers={**PNG, **headers})
        assert response.status_code == 401, response.text
        assert response.json()["error"]["code"] == "unauthorized"
        assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "headers", [{"X-API-Key": "k-one"}, {"Authorization": "Bearer k-two"}], ids=["header", "bearer"]
)
def test_a_valid_key_is_served(keyed_client: TestClient, headers: dict[str, str]) -> None:
    response = keyed_client.post("/v1/crop", content=CROP, headers={**PNG, **headers})
    assert response.status_code == 200, response.text
    assert response.json()["faces"][0]["landmarks"] is not None


def test_frames_need_a_key_too(keyed_client: TestClient) -> None:
    response = keyed_client.post("/v1/frame", content=CROP, headers=PNG)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    with (
        pytest.raises(WebSocketDenialResponse) as refused,
        keyed_client.websocket_connect("/v1/track"),
    ):
        pass
    assert refused.value.status_code == 401  # the same JSON refusal as HTTP
    assert refused.value.json()["error"]["code"] == "unauthorized"


def test_browser_websocket_authenticates_with_a_subprotocol(keyed_client: TestClient) -> None:
    """Browsers cannot set headers on a WebSocket: the key may ride as apikey.<key>, and the
    server selects facemesh.v1 (never echoing the key)."""
    with keyed_client.websocket_connect(
        "/v1/track", subprotocols=["facemesh.v1", "apikey.k-two"]
    ) as ws:
        assert ws.accepted_subprotocol == "facemesh.v1"
        ws.send_bytes(CROP)
        assert "faces" in ws.receive_json()
    with (
        pytest.raises(WebSocketDenialResponse) as refused,
        keyed_client.websocket_connect("/v1/track", subprotocols=["facemesh.v1", "apikey.nope"]),
    ):
        pass
    assert refused.value.status_code == 401
    assert refused.value.json()["error"]["message"] == "invalid API key"


@pytest.mark.parametrize(
    ("subprotocols", "headers"),
    [
        (["apikey.k-one", "apikey.nope"], {}),
        (["apikey.nope", "apikey.k-one"], {}),
        (["apikey.k-one", "apikey.k-one"], {}),
        (["facemesh.v1", "apikey.k-one"], {"x-api-key": "k-two"}),
    ],
    ids=["good-first", "bad-first", "same-twice", "header-and-subprotocol"],
)
def test_more_than_one_websocket_credential_is_refused_whatever_the_order(
    keyed_client: TestClient, subprotocols: list[str], headers: dict[str, str]
) -> None:
    """The headers' rule on the WebSocket: one credential, else 401 (before, the first
    apikey.* subprotocol won, so its order decided)."""
    with (
        pytest.raises(WebSocketDenialResponse) as refused,
        keyed_client.websocket_connect("/v1/track", subprotocols=subprotocols, headers=headers),
    ):
        pass
    assert refused.value.status_code == 401
    assert "exactly one" in refused.value.json()["error"]["message"]


def test_health_metrics_and_docs_need_no_key(keyed_client: TestClient) -> None:
    for path in ("/healthz", "/readyz", "/metrics", "/metrics/", "/openapi.json"):
        assert keyed_client.get(path, follow_redirects=False).status_code == 200, path
    assert "facemesh_http_requests_total" in keyed_client.get("/metrics").text


@pytest.mark.parametrize(
    "headers",
    [
        [("x-api-key", "wrong"), ("x-api-key", "k-one")],
        [("x-api-key", "k-one"), ("x-api-key", "wrong")],
        [("x-api-key", "k-one"), ("x-api-key", "k-one")],
        [("authorization", "Bearer k-one"), ("authorization", "Bearer nope")],
    ],
    ids=["wrong-first", "right-first", "same-twice", "two-bearers"],
)
def test_a_repeated_key_header_is_refused(
    keyed_client: TestClient, headers: list[tuple[str, str]]
) -> None:
    """One rule, HTTP and gRPC alike: a credential header sent twice is refused, whatever
    copy a proxy or library would have kept."""
    response = keyed_client.post("/v1/crop", content=CROP, headers=[*PNG.items(), *headers])
    assert response.status_code == 401, response.text
    assert "exactly one" in response.json()["error"]["message"]


def test_openapi_documents_the_key_schemes_and_401(
    keyed_client: TestClient, test_client: TestClient
) -> None:
    keyed = keyed_client.get("/openapi.json").json()
    assert set(keyed["components"]["securitySchemes"]) == {"ApiKeyHeader", "BearerApiKey"}
    assert keyed["components"]["securitySchemes"]["ApiKeyHeader"]["name"] == "X-API-Key"
    for path in ("/v1/crop", "/v1/crops", "/v1/frame"):
        operation = keyed["paths"][path]["post"]
        assert "401" in operation["responses"], path
        assert operation["security"] == [{"ApiKeyHeader": []}, {"BearerApiKey": []}]
    assert "security" not in keyed["paths"]["/healthz"]["get"]
    open_doc = test_client.get("/openapi.json").json()  # no keys configured: no scheme
    assert "securitySchemes" not in open_doc.get("components", {})
    assert "401" not in open_doc["paths"]["/v1/crop"]["post"]["responses"]


def test_secret_keys_do_not_leak_in_repr() -> None:
    settings = Settings(api_keys="s3cret")  # type: ignore[arg-type]
    assert "s3cret" not in repr(settings)
    assert settings.api_keys[0].get_secret_value() == "s3cret"


def test_cors_preflight_allows_the_configured_origin_only(keyed_client: TestClient) -> None:
    preflight = {"Access-Control-Request-Method": "POST"}
    allowed = keyed_client.options(
        "/v1/crop", headers={"Origin": "https://app.example", **preflight}
    )
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    denied = keyed_client.options(
        "/v1/crop", headers={"Origin": "https://evil.example", **preflight}
    )
    assert "access-control-allow-origin" not in denied.headers


def test_no_cors_headers_by_default(test_client: TestClient) -> None:
    response = test_client.get("/healthz", headers={"Origin": "https://app.example"})
    assert "access-control-allow-origin" not in response.headers


def test_every_response_carries_a_request_id(test_client: TestClient) -> None:
    generated = test_client.get("/healthz").headers["X-Request-ID"]
    assert len(generated) == 32
    assert test_client.get("/healthz").headers["X-Request-ID"] != generated
    echoed = test_client.get("/healthz", headers={"X-Request-ID": "client-abc.1"})
    assert echoed.headers["X-Request-ID"] == "client-abc.1"
    error = test_client.post("/v1/crop", content=b"", headers={**PNG, "X-Request-ID": "req-42"})
    assert error.status_code == 422 and error.headers["X-Request-ID"] == "req-42"


def test_unsafe_request_ids_are_replaced() -> None:
    assert choose_request_id("ok-id_1.2:3") == "ok-id_1.2:3"
    for bad in ("", "a" * 129, "has space", "new\nline", 'quote"', None):
        replaced = choose_request_id(bad)
        assert replaced != bad and len(replaced) == 32


def test_json_log_lines_carry_the_request_id() -> None:
    record = logging.LogRecord(
        "service.access", logging.INFO, __file__, 1, "POST %s", ("/x",), None
    )
    record.status = 200
    token = request_id.set("rid-7")
    try:
        RequestIdFilter().filter(record)
    finally:
        request_id.reset(token)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "POST /x"
    assert line["request_id"] == "rid-7"
    assert line["status"] == 200
    assert line["level"] == "INFO" and line["logger"] == "service.access"
