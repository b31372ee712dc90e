"""What :class:`~facemesh_client.Client` and :class:`~facemesh_client.AsyncClient` share, with
no I/O: how each call becomes a request, how a response becomes a result or an exception, when
to retry, and the tracking WebSocket's URL, subprotocols and messages."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from websockets.typing import Subprotocol

from facemesh_client.errors import (
    RETRYABLE_CODES,
    FacemeshError,
    SessionClosed,
    error_from_body,
    error_from_response,
)
from facemesh_client.images import OCTET_STREAM, ImageFormat, ImageInput, Upload, to_upload
from facemesh_client.results import FacesResult, FrameResult

API_KEY_HEADER = "X-API-Key"
WEBSOCKET_SUBPROTOCOL = "facemesh.v1"
API_KEY_SUBPROTOCOL_PREFIX = "apikey."
IMAGE_FIELD = "image"
DEFAULT_RETRY_DELAY_S = 0.5
MAX_MESSAGE_BYTES = 64 * 2**20  # one tracking result (16 faces are well under 1 MiB)


@dataclass(frozen=True)
class Options:
    """Settings shared by both clients (see :class:`~facemesh_client.Client`)."""

    base_url: str
    api_key: str | None = None
    max_retries: int = 3
    max_retry_delay: float = 30.0
    image_format: ImageFormat = "png"
    jpeg_quality: int = 90
    headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        scheme = urlsplit(self.base_url).scheme
        if scheme not in ("http", "https"):
            raise ValueError(f"base_url must be http:// or https://, not {self.base_url!r}")

    def default_headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.api_key is not None:
            headers[API_KEY_HEADER] = self.api_key
        return headers

    def upload(self, image: ImageInput) -> Upload:
        return to_upload(image, self.image_format, self.jpeg_quality)


@dataclass(frozen=True)
class Call:
    """One HTTP request, ready for ``httpx.Client.request`` / ``AsyncClient.request``."""

    path: str
    params: dict[str, Any]
    content: bytes | None = None
    files: list[tuple[str, tuple[str, bytes, str]]] | None = None
    headers: dict[str, str] = field(default_factory=dict)


def _params(**values: Any) -> dict[str, Any]:
    """Query parameters without the ``None`` ones; booleans as ``true``/``false``."""
    return {
        key: (str(value).lower() if isinstance(value, bool) else value)
        for key, value in values.items()
        if value is not None
    }


def _single(path: str, upload: Upload, params: dict[str, Any]) -> Call:
    """Raw body when the bytes are a known image type, else a multipart part of type
    octet-stream (the server sniffs it and names the problem, e.g. ``not_an_image``)."""
    if upload.content_type == OCTET_STREAM:
        return Call(path, params, files=[(IMAGE_FIELD, ("image", upload.data, OCTET_STREAM))])
    return Call(path, params, content=upload.data, headers={"Content-Type": upload.content_type})


def crop_call(
    options: Options, image: ImageInput, model: str | None, blendshapes: bool | None = None
) -> Call:
    return _single("/v1/crop", options.upload(image), _params(model=model, blendshapes=blendshapes))


def crops_call(
    options: Options,
    images: Iterable[ImageInput],
    model: str | None,
    blendshapes: bool | None = None,
) -> Call:
    uploads = [options.upload(image) for image in images]
    if not uploads:
        raise ValueError("crops() needs at least one image")
    files = [
        (IMAGE_FIELD, (f"image{i}", upload.data, upload.content_type))
        for i, upload in enumerate(uploads)
    ]
    return Call("/v1/crops", _params(model=model, blendshapes=blendshapes), files=files)


def frame_call(
    options: Options,
    image: ImageInput,
    max_faces: int | None,
    rotation_search: bool | None,
    params: Mapping[str, Any] | None,
    model: str | None = None,
    blendshapes: bool | None = None,
) -> Call:
    query = _params(
        max_faces=max_faces,
        rotation_search=rotation_search,
        model=model,
        blendshapes=blendshapes,
        **(params or {}),
    )
    return _single("/v1/frame", options.upload(image), query)


def retry_delay(error: FacemeshError, attempt: int, options: Options) -> float | None:
    """Seconds to wait before retrying after ``error`` on try number ``attempt`` (0-based),
    or ``None`` when it must not be retried: only 503 ``overloaded``/``backend_unavailable``,
    at most ``max_retries`` times, waiting ``Retry-After`` (capped at ``max_retry_delay``)."""
    if error.status != 503 or error.code not in RETRYABLE_CODES:
        return None
    if attempt >= options.max_retries:
        return None
    delay = error.retry_after if error.retry_after is not None else DEFAULT_RETRY_DELAY_S
    return min(delay, options.max_retry_delay)


def check_response(status: int, content: bytes, headers: Mapping[str, str]) -> Any:
    """The decoded JSON body of a 2xx response; raises the mapped error otherwise."""
    if not 200 <= status < 300:
        raise error_from_response(status, content, headers)
    return json.loads(content)


def faces_result(body: Any, headers: Mapping[str, str]) -> FacesResult:
    return FacesResult.parse(body, headers.get("x-request-id"))


def frame_result(body: Any, headers: Mapping[str, str]) -> FrameResult:
    return FrameResult.parse(body, headers.get("x-request-id"))


# Tracking WebSocket -----------------------------------------------------------------------


def track_url(
    options: Options,
    max_faces: int | None,
    rotation_search: bool | None,
    params: Mapping[str, Any] | None,
    model: str | None = None,
    blendshapes: bool | None = None,
) -> str:
    parts = urlsplit(options.base_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    path = parts.path.rstrip("/") + "/v1/track"
    query = urlencode(
        _params(
            max_faces=max_faces,
            rotation_search=rotation_search,
            model=model,
            blendshapes=blendshapes,
            **(params or {}),
        )
    )
    return urlunsplit((scheme, parts.netloc, path, query, ""))


def track_subprotocols(options: Options, key_in_subprotocol: bool) -> list[Subprotocol]:
    """``facemesh.v1``, plus ``apikey.<key>`` when the key is to travel as a subprotocol
    (as browsers must) instead of the ``X-API-Key`` header."""
    if key_in_subprotocol and options.api_key is not None:
        offered = [WEBSOCKET_SUBPROTOCOL, API_KEY_SUBPROTOCOL_PREFIX + options.api_key]
    else:
        offered = [WEBSOCKET_SUBPROTOCOL]
    return [Subprotocol(name) for name in offered]


def track_headers(options: Options, key_in_subprotocol: bool) -> dict[str, str]:
    headers = options.default_headers()
    if key_in_subprotocol:
        headers.pop(API_KEY_HEADER, None)
    return headers


def track_message(message: str | bytes) -> FrameResult | FacemeshError:
    """One server message of a session: a frame's result, or the error for that frame."""
    body = json.loads(message)
    if isinstance(body, Mapping) and "error" in body:
        return error_from_body(body)
    return FrameResult.parse(body)


def session_closed(code: int | None, reason: str) -> SessionClosed:
    return SessionClosed(
        f"the server closed the tracking session ({code}: {reason or 'no reason given'})",
        close_code=code,
    )


def handshake_error(status: int, content: bytes, headers: Mapping[str, str]) -> FacemeshError:
    """The error for a refused WebSocket handshake. The gateway answers refusals with its JSON
    error body (401 for the API key, 422 for a bad query); a bare 403 without a body (a proxy,
    or an older gateway) is taken as ``unauthorized``."""
    if status == 403 and not content.strip().startswith(b"{"):
        body = {"error": {"code": "unauthorized", "message": "WebSocket handshake refused (403)"}}
        return error_from_body(body, status=status, request_id=headers.get("x-request-id"))
    return error_from_response(status, content, headers)
