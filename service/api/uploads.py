"""Reads the posted image bytes from a request: a raw image body or multipart ``image`` parts.

Accepted raw ``Content-Type``: ``image/jpeg`` (also ``image/jpg``), ``image/png``,
``image/webp``, or ``multipart/form-data`` with one or more file fields named ``image`` whose
part type is one of those, ``application/octet-stream`` or absent. The actual format is always
sniffed from the bytes (``service.processing.decode``), never trusted from the header.

The body size limit is enforced from ``Content-Length`` before reading and again while
streaming, so an oversized body is never held in memory. The body is read against two clocks
(``body_idle_timeout_s`` between chunks, ``body_timeout_s`` for all of it): a stalled or
trickling upload gets 408 ``body_timeout``. A client that disconnects mid-body raises
``ClientDisconnected`` (logged at INFO, counted apart; never a 500). The routes take an
admission slot only once the body is in (``service.api.deps.AdmissionDep``), so stalled uploads
hold no slot.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

from fastapi import Request
from python_multipart.multipart import parse_options_header
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect

from service.core.config import Settings
from service.core.errors import (
    ClientDisconnected,
    InvalidImage,
    PayloadTooLarge,
    RequestTimeout,
    UnsupportedMediaType,
)

IMAGE_MEDIA_TYPES = frozenset({"image/jpeg", "image/jpg", "image/png", "image/webp"})
PART_MEDIA_TYPES = IMAGE_MEDIA_TYPES | {"application/octet-stream", ""}
MULTIPART = "multipart/form-data"
IMAGE_FIELD = "image"
# What reading an upload (here) and its images' headers can answer, for the OpenAPI document
# of every route that takes an image body.
UPLOAD_ERRORS: dict[int, str] = {
    408: "Request body not received in time (`body_timeout`).",
    413: "Body, image pixel count or decoded size over the limit (`body_too_large`, "
    "`image_too_large`, `decode_budget_exceeded`).",
    415: "Unsupported Content-Type (`unsupported_media_type`).",
}


def media_type(content_type: str | None) -> str:
    """``"image/PNG; charset=x"`` -> ``"image/png"``."""
    return (content_type or "").split(";", 1)[0].strip().lower()


async def read_body(
    request: Request, max_bytes: int, *, idle_timeout_s: float, total_timeout_s: float
) -> bytes:
    """The whole body, or ``PayloadTooLarge`` as soon as it exceeds ``max_bytes``,
    ``RequestTimeout`` when a chunk takes longer than ``idle_timeout_s`` or the whole body
    longer than ``total_timeout_s``, ``ClientDisconnected`` when the client goes away."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(
            "body_too_large", f"body is {declared} bytes, the limit is {max_bytes}"
        )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + total_timeout_s
    chunks: list[bytes] = []
    total = 0
    stream = request.stream()
    while True:
        wait = min(idle_timeout_s, deadline - loop.time())
        try:
            async with asyncio.timeout(max(wait, 0.0)):
                chunk = await anext(stream)
        except StopAsyncIteration:
            break
        except TimeoutError:
            raise RequestTimeout(
                f"request body not received in time (after {total} bytes; limits: "
                f"{idle_timeout_s:g} s between chunks, {total_timeout_s:g} s in all)"
            ) from None
        except ClientDisconnect:
            raise ClientDisconnected(
                f"the client disconnected after sending {total} bytes of the body"
            ) from None
        total += len(chunk)
        if total > max_bytes:
            raise PayloadTooLarge("body_too_large", f"body exceeds the limit of {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _check_complete(content_type: str, body: bytes) -> None:
    """A multipart body must end with its closing delimiter (``--boundary--``): Starlette's
    parser quietly returns the parts it saw in a cut-off body."""
    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise InvalidImage("invalid_multipart", "multipart Content-Type without a boundary")
    if b"--" + boundary + b"--" not in body:
        raise InvalidImage(
            "invalid_multipart", "malformed multipart body: it ends before the closing boundary"
        )


async def _parse_multipart(request: Request, body: bytes, max_images: int) -> list[bytes]:
    _check_complete(request.headers.get("content-type", ""), body)

    async def stream() -> AsyncGenerator[bytes, None]:
        yield body

    parser = MultiPartParser(request.headers, stream(), max_files=max_images, max_fields=16)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        if str(exc).startswith("Too many files"):
            raise InvalidImage(
                "too_many_images", f"at most {max_images} image(s) per request"
            ) from exc
        raise InvalidImage("invalid_multipart", f"malformed multipart body: {exc}") from exc
    try:
        payloads: list[bytes] = []
        for item in form.getlist(IMAGE_FIELD):
            if not isinstance(item, UploadFile):
                raise InvalidImage("invalid_multipart", f"field {IMAGE_FIELD!r} must be a file")
            part_type = media_type(item.content_type)
            if part_type not in PART_MEDIA_TYPES:
                raise UnsupportedMediaType(
                    "unsupported_media_type",
                    f"part type {part_type!r} is not one of {sorted(IMAGE_MEDIA_TYPES)}",
                )
            payloads.append(await item.read())
    finally:
        await form.close()
    if not payloads:
        raise InvalidImage("missing_image", f"no file field named {IMAGE_FIELD!r}")
    return payloads


async def read_images(request: Request, settings: Settings, *, max_images: int) -> list[bytes]:
    """The posted image payloads (1..max_images), still encoded."""
    kind = media_type(request.headers.get("content-type"))
    if kind == MULTIPART:
        body = await _read_body(request, settings)
        if not body:
            raise InvalidImage("empty_body", "the request body is empty")
        return await _parse_multipart(request, body, max_images)
    if kind in IMAGE_MEDIA_TYPES:
        body = await _read_body(request, settings)
        if not body:
            raise InvalidImage("empty_body", "the request body is empty")
        return [body]
    raise UnsupportedMediaType(
        "unsupported_media_type",
        f"Content-Type {kind or '(none)'!r} is not one of "
        f"{sorted(IMAGE_MEDIA_TYPES | {MULTIPART})}",
    )


async def _read_body(request: Request, settings: Settings) -> bytes:
    return await read_body(
        request,
        settings.max_body_bytes,
        idle_timeout_s=settings.body_idle_timeout_s,
        total_timeout_s=settings.body_timeout_s,
    )
