"""The blocking client: one ``httpx.Client`` (one keep-alive connection pool) per ``Client``;
tracking sessions over a WebSocket (``websockets``' sync client)."""

from __future__ import annotations

import time
from collections.abc import Generator, Iterable, Iterator, Mapping
from typing import Any, Literal, overload

import httpx
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from facemesh_client import _protocol as protocol
from facemesh_client.errors import FacemeshError
from facemesh_client.images import ImageFormat, ImageInput
from facemesh_client.results import FacesResult, FrameResult

DEFAULT_BASE_URL = "http://localhost:8000"


class Client:
    """Blocking client for the face-mesh gateway. Use as a context manager (or call
    :meth:`close`) so its connection pool is released::

        with Client("http://localhost:8000", api_key="...") as client:
            face = client.crop("face.png").faces[0]
            print(face.score, face.landmarks.shape)  # (478, 3)

    ``timeout``: seconds per request (and per tracking frame); ``max_retries``: how often a
    503 ``overloaded``/``backend_unavailable`` is retried, after the server's
    ``Retry-After`` (at most ``max_retry_delay`` seconds); ``image_format``/``jpeg_quality``:
    how NumPy arrays and PIL images are encoded (``"png"``: lossless; ``"jpeg"`` is smaller
    and needs Pillow). Paths and bytes are posted unchanged.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        max_retries: int = 3,
        max_retry_delay: float = 30.0,
        image_format: ImageFormat = "png",
        jpeg_quality: int = 90,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.options = protocol.Options(
            base_url=base_url.rstrip("/"),
            api_key=api_key,
            max_retries=max_retries,
            max_retry_delay=max_retry_delay,
            image_format=image_format,
            jpeg_quality=jpeg_quality,
            headers=dict(headers or {}),
        )
        self.timeout = timeout
        self._http = httpx.Client(
            base_url=self.options.base_url,
            timeout=timeout,
            headers=self.options.default_headers(),
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # HTTP ----------------------------------------------------------------------------------

    def _send(self, call: protocol.Call) -> tuple[Any, httpx.Headers]:
        attempt = 0
        while True:
            response = self._http.post(
                call.path,
                params=call.params,
                content=call.content,
                files=call.files,
                headers=call.headers,
            )
            try:
                return protocol.check_response(
                    response.status_code, response.content, response.headers
                ), response.headers
            except FacemeshError as error:
                delay = protocol.retry_delay(error, attempt, self.options)
                if delay is None:
                    raise
            attempt += 1
            time.sleep(delay)

    def crop(
        self, image: ImageInput, *, model: str | None = None, blendshapes: bool | None = None
    ) -> FacesResult:
        """``POST /v1/crop``: landmarks of one face crop (``result.faces[0]``)."""
        body, headers = self._send(protocol.crop_call(self.options, image, model, blendshapes))
        return protocol.faces_result(body, headers)

    def crops(
        self,
        images: Iterable[ImageInput],
        *,
        model: str | None = None,
        blendshapes: bool | None = None,
    ) -> FacesResult:
        """``POST /v1/crops``: several crops in one model call, one face each, in order."""
        body, headers = self._send(protocol.crops_call(self.options, images, model, blendshapes))
        return protocol.faces_result(body, headers)

    def frame(
        self,
        image: ImageInput,
        max_faces: int | None = None,
        *,
        rotation_search: bool | None = None,
        params: Mapping[str, Any] | None = None,
        model: str | None = None,
        blendshapes: bool | None = None,
    ) -> FrameResult:
        """``POST /v1/frame``: every face of a whole frame (detector, ROI, landmarks).
        ``params``: further query parameters for servers that accept more."""
        call = protocol.frame_call(
            self.options, image, max_faces, rotation_search, params, model, blendshapes
        )
        body, headers = self._send(call)
        return protocol.frame_result(body, headers)

    def ready(self) -> bool:
        """Whether ``GET /readyz`` answers 200 (the model is loaded and answering)."""
        return self._http.get("/readyz").status_code == 200

    # Tracking ------------------------------------------------------------------------------

    @overload
    def track(
        self,
        frames: Iterable[ImageInput],
        max_faces: int | None = ...,
        *,
        rotation_search: bool | None = ...,
        params: Mapping[str, Any] | None = ...,
        model: str | None = ...,
        blendshapes: bool | None = ...,
        return_errors: Literal[False] = ...,
        key_in_subprotocol: bool = ...,
    ) -> Generator[FrameResult, None, None]: ...

    @overload
    def track(
        self,
        frames: Iterable[ImageInput],
        max_faces: int | None = ...,
        *,
        rotation_search: bool | None = ...,
        params: Mapping[str, Any] | None = ...,
        model: str | None = ...,
        blendshapes: bool | None = ...,
        return_errors: Literal[True],
        key_in_subprotocol: bool = ...,
    ) -> Generator[FrameResult | FacemeshError, None, None]: ...

    def track(
        self,
        frames: Iterable[ImageInput],
        max_faces: int | None = None,
        *,
        rotation_search: bool | None = None,
        params: Mapping[str, Any] | None = None,
        model: str | None = None,
        blendshapes: bool | None = None,
        return_errors: bool = False,
        key_in_subprotocol: bool = False,
    ) -> Generator[FrameResult, None, None] | Generator[FrameResult | FacemeshError, None, None]:
        """A tracking session on ``WS /v1/track``: yields one :class:`FrameResult` per frame,
        in order, one frame in flight at a time (the next frame is read from ``frames`` only
        after the previous result arrived, so a live source is never queued up).

        The connection opens on the first ``next()`` and closes when ``frames`` is exhausted
        or the iterator is closed. A frame the server cannot use (``{"error": ...}``) raises
        its exception and ends the session, or with ``return_errors=True`` is yielded as
        that exception and the session goes on. A server-side close raises
        :class:`~facemesh_client.errors.SessionClosed`. The API key travels as the
        ``X-API-Key`` header, or with ``key_in_subprotocol=True`` as the subprotocol
        ``apikey.<key>`` (as browsers send it).
        """
        url = protocol.track_url(
            self.options, max_faces, rotation_search, params, model, blendshapes
        )
        return self._session(url, iter(frames), return_errors, key_in_subprotocol)

    def _session(
        self,
        url: str,
        frames: Iterator[ImageInput],
        return_errors: bool,
        key_in_subprotocol: bool,
    ) -> Generator[FrameResult | FacemeshError, None, None]:
        try:
            websocket = connect(
                url,
                subprotocols=protocol.track_subprotocols(self.options, key_in_subprotocol),
                additional_headers=protocol.track_headers(self.options, key_in_subprotocol),
                open_timeout=self.timeout,
                max_size=protocol.MAX_MESSAGE_BYTES,
            )
        except InvalidStatus as exc:
            response = exc.response
            raise protocol.handshake_error(
                response.status_code, bytes(response.body or b""), response.headers
            ) from None
        with websocket:
            for frame in frames:
                upload = self.options.upload(frame)
                try:
                    websocket.send(upload.data)
                    message = websocket.recv(timeout=self.timeout)
                except ConnectionClosed as exc:
                    closed = exc.rcvd
                    raise protocol.session_closed(
                        closed.code if closed else None, closed.reason if closed else ""
                    ) from None
                item = protocol.track_message(message)
                if isinstance(item, FacemeshError) and not return_errors:
                    raise item
                yield item
