"""The asyncio client: the same methods as :class:`~facemesh_client.Client`, awaited; one
``httpx.AsyncClient`` (one keep-alive pool); tracking with ``websockets``' asyncio client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterable, Mapping
from typing import Any, Literal, overload

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from facemesh_client import _protocol as protocol
from facemesh_client.client import DEFAULT_BASE_URL
from facemesh_client.errors import FacemeshError
from facemesh_client.images import ImageFormat, ImageInput
from facemesh_client.results import FacesResult, FrameResult


class AsyncClient:
    """Asyncio client for the face-mesh gateway (arguments as :class:`Client`)::

    async with AsyncClient("http://localhost:8000") as client:
        result = await client.frame("photo.jpg")
        async for frame in client.track(camera_frames()):
            ...
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
        self._http = httpx.AsyncClient(
            base_url=self.options.base_url,
            timeout=timeout,
            headers=self.options.default_headers(),
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # HTTP ----------------------------------------------------------------------------------

    async def _send(self, call: protocol.Call) -> tuple[Any, httpx.Headers]:
        attempt = 0
        while True:
            response = await self._http.post(
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
            await asyncio.sleep(delay)

    async def crop(
        self, image: ImageInput, *, model: str | None = None, blendshapes: bool | None = None
    ) -> FacesResult:
        """``POST /v1/crop``: landmarks of one face crop (``result.faces[0]``)."""
        body, headers = await self._send(
            await asyncio.to_thread(protocol.crop_call, self.options, image, model, blendshapes)
        )
        return protocol.faces_result(body, headers)

    async def crops(
        self,
        images: Iterable[ImageInput],
        *,
        model: str | None = None,
        blendshapes: bool | None = None,
    ) -> FacesResult:
        """``POST /v1/crops``: several crops in one model call, one face each, in order."""
        body, headers = await self._send(
            await asyncio.to_thread(
                protocol.crops_call, self.options, list(images), model, blendshapes
            )
        )
        return protocol.faces_result(body, headers)

    async def frame(
        self,
        image: ImageInput,
        max_faces: int | None = None,
        *,
        rotation_search: bool | None = None,
        params: Mapping[str, Any] | None = None,
        model: str | None = None,
        blendshapes: bool | None = None,
    ) -> FrameResult:
        """``POST /v1/frame``: every face of a whole frame (detector, ROI, landmarks)."""
        call = await asyncio.to_thread(
            protocol.frame_call,
            self.options,
            image,
            max_faces,
            rotation_search,
            params,
            model,
            blendshapes,
        )
        body, headers = await self._send(call)
        return protocol.frame_result(body, headers)

    async def ready(self) -> bool:
        """Whether ``GET /readyz`` answers 200."""
        return (await self._http.get("/readyz")).status_code == 200

    # Tracking ------------------------------------------------------------------------------

    @overload
    def track(
        self,
        frames: Iterable[ImageInput] | AsyncIterable[ImageInput],
        max_faces: int | None = ...,
        *,
        rotation_search: bool | None = ...,
        params: Mapping[str, Any] | None = ...,
        model: str | None = ...,
        blendshapes: bool | None = ...,
        return_errors: Literal[False] = ...,
        key_in_subprotocol: bool = ...,
    ) -> AsyncGenerator[FrameResult, None]: ...

    @overload
    def track(
        self,
        frames: Iterable[ImageInput] | AsyncIterable[ImageInput],
        max_faces: int | None = ...,
        *,
        rotation_search: bool | None = ...,
        params: Mapping[str, Any] | None = ...,
        model: str | None = ...,
        blendshapes: bool | None = ...,
        return_errors: Literal[True],
        key_in_subprotocol: bool = ...,
    ) -> AsyncGenerator[FrameResult | FacemeshError, None]: ...

    def track(
        self,
        frames: Iterable[ImageInput] | AsyncIterable[ImageInput],
        max_faces: int | None = None,
        *,
        rotation_search: bool | None = None,
        params: Mapping[str, Any] | None = None,
        model: str | None = None,
        blendshapes: bool | None = None,
        return_errors: bool = False,
        key_in_subprotocol: bool = False,
    ) -> AsyncGenerator[FrameResult, None] | AsyncGenerator[FrameResult | FacemeshError, None]:
        """A tracking session on ``WS /v1/track`` as an async iterator (see
        :meth:`Client.track`); ``frames`` may be a plain or an async iterable."""
        url = protocol.track_url(
            self.options, max_faces, rotation_search, params, model, blendshapes
        )
        return self._session(url, frames, return_errors, key_in_subprotocol)

    async def _session(
        self,
        url: str,
        frames: Iterable[ImageInput] | AsyncIterable[ImageInput],
        return_errors: bool,
        key_in_subprotocol: bool,
    ) -> AsyncGenerator[FrameResult | FacemeshError, None]:
        try:
            websocket = await connect(
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
        async with websocket:
            async for frame in _aiter(frames):
                upload = await asyncio.to_thread(self.options.upload, frame)
                try:
                    await websocket.send(upload.data)
                    message = await asyncio.wait_for(websocket.recv(), self.timeout)
                except ConnectionClosed as exc:
                    closed = exc.rcvd
                    raise protocol.session_closed(
                        closed.code if closed else None, closed.reason if closed else ""
                    ) from None
                item = protocol.track_message(message)
                if isinstance(item, FacemeshError) and not return_errors:
                    raise item
                yield item


async def _aiter(
    frames: Iterable[ImageInput] | AsyncIterable[ImageInput],
) -> AsyncIterator[ImageInput]:
    if isinstance(frames, AsyncIterable):
        async for frame in frames:
            yield frame
    else:
        for frame in frames:
            yield frame
