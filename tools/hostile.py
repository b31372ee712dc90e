"""A hostile-input corpus against a real gateway: generated probes, each sent on loopback.

``probes(seed)`` generates the corpus deterministically: mutated and lying images (truncated,
bit-flipped, headers that claim huge sizes, every PNG bit depth and colour type, 16-bit
amplifiers, odd JPEGs, other formats), broken multiparts, hostile queries and headers,
protocol abuse on raw sockets (unfinished, oversized and duplicated headers, request
smuggling, garbage, TLS on the plain port, slow and dropped uploads), WebSocket abuse
(handshakes, text that is not UTF-8, idle sessions, bad queries) and gRPC abuse (bytes that
are not protobuf, oversized messages, frameless and idle streams, floods of waiting
streams, fields of view outside the camera range). ``run_corpus(server)`` sends every probe
once, samples the server's RSS meanwhile and returns a ``CorpusReport``: probes tried,
answers by status, 5xx (gRPC: UNKNOWN, INTERNAL, DATA_LOSS), redirects, connections
dropped without a close code, whether the server is still alive and healthy, peak RSS and
the kernel's high-water mark (VmHWM). ``tests/service/test_hostile_corpus.py`` runs it in
the test suite; ``python -m tools.hostile`` starts a server (``corpus_settings()``) and
prints the report (the README's reliability section quotes it).

Only loopback; every loop is bounded; nothing here is a load test.
"""

# The corpus is mostly literal requests and bytes: long lines are easier to read whole.
# ruff: noqa: E501

from __future__ import annotations

import argparse
import io
import json
import logging
import random
import socket
import struct
import tempfile
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import grpc
import httpx
import numpy as np
import psutil
from PIL import Image
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from tools.servers.gateway import LiveServer, free_port, start_server

REPO_ROOT = Path(__file__).resolve().parents[1]
CROP = REPO_ROOT / "tests" / "data" / "crops" / "lenna_face0.png"
FRAME = REPO_ROOT / "tests" / "data" / "frames" / "lenna.png"  # a whole frame with a face

# Small limits so that slow probes take about a second and big ones stay cheap.
CORPUS_SETTINGS = {
    "FACEMESH_MAX_BODY_BYTES": str(2 * 1024 * 1024),
    "FACEMESH_DECODE_MEMORY_BYTES": str(256 * 1024 * 1024),
    "FACEMESH_CROPS_MAX_IMAGES": "8",
    "FACEMESH_HEADER_TIMEOUT_S": "1",
    "FACEMESH_BODY_IDLE_TIMEOUT_S": "1",
    "FACEMESH_BODY_TIMEOUT_S": "2",
    "FACEMESH_MAX_HEADER_BYTES": "8192",
    "FACEMESH_MAX_HEADER_COUNT": "50",
    "FACEMESH_TRACKING_SESSION_TTL_S": "2",
    "FACEMESH_TRACKING_MAX_SESSIONS": "4",
    "FACEMESH_TRACKING_FIRST_FRAME_TIMEOUT_S": "1",
    "FACEMESH_GRPC_ENABLED": "true",
    "FACEMESH_LOG_LEVEL": "info",
}
GRPC_SERVER_ERRORS = ("UNKNOWN", "INTERNAL", "DATA_LOSS")  # the gRPC side of a 5xx


def corpus_settings() -> dict[str, str]:
    """``CORPUS_SETTINGS`` with a free port for the gRPC server."""
    return {**CORPUS_SETTINGS, "FACEMESH_GRPC_PORT": str(free_port())}


READ_LIMIT_S = 30.0  # upper bound on waiting for one answer

# An outcome: an HTTP status, or one of these for answers that are not HTTP responses.
CLOSED = "closed"  # the server closed (or reset) the connection without an answer
WS_PREFIX = "ws:"  # "ws:<close code>" or "ws:message" for WebSocket probes
WS_DROPPED = WS_PREFIX + "1006"  # the server dropped the connection without a close frame
GRPC_PREFIX = "grpc:"  # "grpc:<status>" or "grpc:OK:<in-band error codes>" for gRPC probes


@dataclass(frozen=True)
class Probe:
    name: str
    kind: str  # images, multipart, query, headers, protocol, slow, websocket, grpc
    send: Callable[[LiveServer], str | int]


@dataclass
class CorpusReport:
    probes: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)
    server_errors: list[tuple[str, str | int]] = field(default_factory=list)
    non_json_errors: list[str] = field(default_factory=list)
    redirects: list[tuple[str, int]] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # closed without a close code
    alive: bool = True
    healthy: bool = True
    rss_start_mb: float = 0.0
    rss_peak_mb: float = 0.0
    rss_end_mb: float = 0.0
    hwm_start_mb: float = 0.0  # VmHWM: the kernel's peak RSS of the process since it started
    hwm_end_mb: float = 0.0
    tracebacks: int = 0

    def summary(self) -> dict[str, object]:
        return {
            "probes": self.probes,
            "by_kind": dict(sorted(self.by_kind.items())),
            "outcomes": dict(sorted(self.outcomes.items())),
            "5xx": len(self.server_errors),
            "server_errors": self.server_errors[:20],
            "non_json_errors": self.non_json_errors[:20],
            "redirects": self.redirects[:20],
            "dropped_without_close_code": self.dropped[:20],
            "alive": self.alive,
            "healthy": self.healthy,
            "tracebacks_in_log": self.tracebacks,
            "rss_mb": {
                "start": round(self.rss_start_mb, 1),
                "peak": round(self.rss_peak_mb, 1),
                "end": round(self.rss_end_mb, 1),
                "vmhwm_at_start": round(self.hwm_start_mb, 1),
                "vmhwm_at_end": round(self.hwm_end_mb, 1),
            },
        }


# --- building blocks ------------------------------------------------------------------------


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def png(width: int, height: int, depth: int, colour: int, rows: bytes | None = None) -> bytes:
    """A PNG written by hand (any header); ``rows=None``: all-zero rows (a tiny amplifier)."""
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour]
    if rows is None:
        row = b"\x00" * (1 + (width * channels * depth + 7) // 8)
        compressor = zlib.compressobj(9)
        idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    else:
        idat = zlib.compress(rows)
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    extra = _chunk(b"PLTE", bytes(range(256)) * 3) if colour == 3 else b""
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + extra
        + _chunk(b"IDAT", idat)
        + _chunk(b"IEND", b"")
    )


def _encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def _address(server: LiveServer) -> tuple[str, int]:
    host, port = server.base_url.removeprefix("http://").split(":")
    return host, int(port)


def raw_exchange(
    server: LiveServer, data: bytes, *, pause_s: float = 0.0, then: bytes = b""
) -> str | int:
    """Send ``data`` (then, after ``pause_s``, ``then``) on a fresh socket; the answer's
    status, or ``CLOSED``."""
    with socket.create_connection(_address(server), timeout=READ_LIMIT_S) as sock:
        try:
            sock.sendall(data)
            if pause_s:
                time.sleep(pause_s)
            if then:
                sock.sendall(then)
        except OSError:
            pass
        answer = b""
        try:
            while b"\r\n\r\n" not in answer:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
        except OSError:
            pass
    if answer.startswith(b"HTTP/1.") and len(answer) >= 12:
        status = int(answer[9:12])
        head = answer.split(b"\r\n\r\n", 1)[0].lower()
        if status >= 400 and b"\r\ncontent-type: application/json" not in head:
            raise NonJsonError(status)
        return status
    return CLOSED


def websocket_upgrade(path: str, extra_headers: list[str] | None = None) -> bytes:
    """A raw WebSocket upgrade request for ``path`` (valid unless ``extra_headers`` spoil it)."""
    lines = [
        f"GET {path} HTTP/1.1",
        "Host: x",
        "Connection: Upgrade",
        "Upgrade: websocket",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
        *(extra_headers or []),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _dropped(server: LiveServer, head: bytes, partial: bytes) -> str | int:
    """Send the headers and part of the body, then vanish (RST)."""
    sock = socket.create_connection(_address(server), timeout=READ_LIMIT_S)
    sock.sendall(head + partial)
    time.sleep(0.05)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
    return CLOSED


def _post(path: str, content: bytes, content_type: str | None) -> Callable[[LiveServer], int]:
    headers = {} if content_type is None else {"Content-Type": content_type}

    def send(server: LiveServer) -> int:
        response = server.client().post(path, content=content, headers=headers)
        return _checked(response)

    return send


def _multipart(path: str, body: bytes, content_type: str) -> Callable[[LiveServer], int]:
    return _post(path, body, content_type)


def _checked(response: httpx.Response) -> int:
    """The status; error answers must carry the JSON envelope (else marked as 299 + status
    in ``run_corpus``'s non-JSON list via an attribute)."""
    status = response.status_code
    if status >= 400:
        try:
            error = response.json()["error"]
            assert isinstance(error["code"], str) and isinstance(error["message"], str)
        except (ValueError, KeyError, TypeError, AssertionError):
            raise NonJsonError(status) from None
    return status


class NonJsonError(Exception):
    """An error answer without the ``{"error": {"code", "message"}}`` body."""


# --- the corpus -----------------------------------------------------------------------------


def _image_probes(rng: random.Random) -> Iterator[Probe]:
    crop = CROP.read_bytes()
    rgb = Image.open(io.BytesIO(crop)).convert("RGB")
    encoded = {
        "png": crop,
        "jpeg": _encode(rgb, "JPEG", quality=90),
        "progressive-jpeg": _encode(rgb, "JPEG", quality=80, progressive=True),
        "webp": _encode(rgb, "WEBP", quality=80),
        "lossless-webp": _encode(rgb, "WEBP", lossless=True),
    }
    types = {"png": "image/png", "webp": "image/webp"}
    for name, data in encoded.items():
        ctype = types.get(name.split("-")[-1], "image/jpeg")
        for fraction in (0.0, 0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99):
            cut = data[: int(len(data) * fraction)]
            yield Probe(f"truncated-{name}-{fraction}", "images", _post("/v1/crop", cut, ctype))
        for index in range(30):  # bit flips anywhere, then in the first 64 bytes (headers)
            mutated = bytearray(data)
            limit = len(mutated) if index < 15 else min(64, len(mutated))
            for _ in range(1 + index % 4):
                position = rng.randrange(limit)
                mutated[position] ^= 1 << rng.randrange(8)
            yield Probe(
                f"bitflip-{name}-{index}", "images", _post("/v1/crop", bytes(mutated), ctype)
            )
        yield Probe(f"declared-wrong-{name}", "images", _post("/v1/crop", data, "image/png"))
        yield Probe(f"frame-{name}", "images", _post("/v1/frame", data, ctype))
    # Every PNG bit depth / colour type, tiny and as amplifiers (few KB, huge decoded).
    for colour, depths in {
        0: (1, 2, 4, 8, 16),
        2: (8, 16),
        3: (1, 2, 4, 8),
        4: (8, 16),
        6: (8, 16),
    }.items():
        for depth in depths:
            for side in (1, 31, 32, 64, 4000):
                data = png(side, side, depth, colour)
                name = f"png-c{colour}-d{depth}-{side}"
                yield Probe(name, "images", _post("/v1/crop", data, "image/png"))
    for width, height in (
        (0, 0),
        (0, 100),
        (100, 0),
        (2**31 - 1, 1),
        (1, 2**31 - 1),
        (65535, 65535),
        (100_000, 1),
    ):
        data = png(1, 1, 8, 2)
        header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
        lying = data[:8] + _chunk(b"IHDR", header) + data[8 + 25 :]
        yield Probe(f"png-claims-{width}x{height}", "images", _post("/v1/crop", lying, "image/png"))
    for width, height in ((65500, 65500), (1, 65500), (0, 10)):  # JPEG SOF lies
        jpeg = bytearray(encoded["jpeg"])
        sof = jpeg.find(b"\xff\xc0")
        if sof > 0:
            jpeg[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
        yield Probe(
            f"jpeg-claims-{width}x{height}", "images", _post("/v1/crop", bytes(jpeg), "image/jpeg")
        )
    for mode in ("CMYK", "L", "1", "P", "LA", "RGBA", "I;16", "I", "F"):
        try:
            image = rgb.convert(mode) if mode not in ("I;16",) else rgb.convert("L").convert("I;16")
        except ValueError:
            continue
        for fmt, ctype in (
            ("PNG", "image/png"),
            ("JPEG", "image/jpeg"),
            ("WEBP", "image/webp"),
            ("TIFF", "image/png"),
            ("BMP", "image/png"),
            ("GIF", "image/png"),
        ):
            try:
                data = _encode(image, fmt)
            except (OSError, ValueError, KeyError):
                continue
            yield Probe(f"mode-{mode}-{fmt}", "images", _post("/v1/crop", data, ctype))
    for orientation in (0, 1, 3, 5, 6, 8, 9, 255, 65535):
        exif = Image.Exif()
        exif[0x0112] = orientation
        data = _encode(rgb, "JPEG", exif=exif.tobytes())
        yield Probe(
            f"exif-orientation-{orientation}", "images", _post("/v1/crop", data, "image/jpeg")
        )
    animated = _encode(rgb, "WEBP", save_all=True, append_images=[rgb.rotate(90)] * 3)
    yield Probe("animated-webp", "images", _post("/v1/crop", animated, "image/webp"))
    text_chunks = png(64, 64, 8, 2)
    flood = (
        text_chunks[:33]
        + b"".join(_chunk(b"tEXt", b"k\x00" + b"v" * 1000) for _ in range(1000))
        + text_chunks[33:]
    )
    yield Probe("png-1000-text-chunks", "images", _post("/v1/crop", flood, "image/png"))
    big_icc = (
        text_chunks[:33]
        + _chunk(b"iCCP", b"icc\x00\x00" + zlib.compress(b"\x00" * 50_000_000))
        + text_chunks[33:]
    )
    yield Probe("png-iccp-bomb", "images", _post("/v1/crop", big_icc, "image/png"))
    amplifiers = [png(4000, 4000, 16, 6) for _ in range(8)]
    yield Probe("crops-8-rgba16-4000", "images", _crops(amplifiers))
    yield Probe("frame-rgba16-4000", "images", _post("/v1/frame", amplifiers[0], "image/png"))
    noise = np.random.default_rng(rng.randrange(2**32)).integers(0, 256, (1200, 1200, 3), np.uint8)
    yield Probe(
        "noise-png-over-body-limit",
        "images",
        _post("/v1/crop", _encode(Image.fromarray(noise), "PNG"), "image/png"),
    )
    for payload in (
        b"",
        b"\x00",
        b"GIF89a",
        b"\x89PNG\r\n\x1a\n",
        b"\xff\xd8\xff",
        b"RIFF\x00\x00\x00\x00WEBP",
        b"<svg/>",
        b"%PDF-1.4",
    ):
        yield Probe(f"magic-{payload[:8]!r}", "images", _post("/v1/crop", payload, "image/png"))


def _crops(images: list[bytes]) -> Callable[[LiveServer], int]:
    def send(server: LiveServer) -> int:
        files = [("image", (f"{i}.png", data, "image/png")) for i, data in enumerate(images)]
        return _checked(server.client().post("/v1/crops", files=files))

    return send


def _post_with_headers(crop: bytes, headers: list[tuple[str, str]], server: LiveServer) -> int:
    all_headers = [("content-type", "image/png"), *headers]
    return _checked(server.client().post("/v1/crop", content=crop, headers=all_headers))


def _multipart_probes() -> Iterator[Probe]:
    crop = CROP.read_bytes()
    request = httpx.Request(
        "POST", "http://x/v1/crops", files=[("image", ("a.png", crop, "image/png"))] * 2
    )
    body = request.read()
    ctype = request.headers["Content-Type"]
    boundary = ctype.split("boundary=", 1)[1].encode()
    for fraction in (0.0, 0.05, 0.3, 0.5, 0.8, 0.99, 0.999):
        yield Probe(
            f"cut-off-{fraction}",
            "multipart",
            _multipart("/v1/crops", body[: int(len(body) * fraction)], ctype),
        )
    variants = {
        "no-boundary-param": (body, "multipart/form-data"),
        "wrong-boundary": (body, "multipart/form-data; boundary=nope"),
        "empty-boundary": (body, "multipart/form-data; boundary="),
        "huge-boundary": (body, "multipart/form-data; boundary=" + "b" * 5000),
        "quoted-boundary": (body, f'multipart/form-data; boundary="{boundary.decode()}"'),
        "no-final-crlf": (body.rstrip(b"\r\n"), ctype),
        "epilogue": (body + b"trailing garbage" * 100, ctype),
        "preamble": (b"preamble " * 100 + b"\r\n" + body, ctype),
        "double-boundary": (
            body.replace(b"--" + boundary, b"--" + boundary + b"\r\n--" + boundary, 1),
            ctype,
        ),
        "multipart-lf-only": (body.replace(b"\r\n", b"\n"), ctype),
        "no-part-headers": (
            b"--" + boundary + b"\r\n\r\n" + crop + b"\r\n--" + boundary + b"--\r\n",
            ctype,
        ),
        "filename-injection": (
            body.replace(b'filename="a.png"', b'filename="../../etc/passwd\r\nX-Evil: 1"', 1),
            ctype,
        ),
        "name-not-utf8": (body.replace(b'name="image"', b'name="\xff\xfe"', 1), ctype),
        "part-content-type-garbage": (
            body.replace(b"Content-Type: image/png", b"Content-Type: \x00\x01", 1),
            ctype,
        ),
        "mixed-case-type": (body, ctype.replace("multipart/form-data", "Multipart/Form-Data")),
    }
    for name, (data, content_type) in variants.items():
        yield Probe(name, "multipart", _multipart("/v1/crops", data, content_type))
    many = (
        b"".join(
            b"--" + boundary + b'\r\nContent-Disposition: form-data; name="f%d"\r\n\r\nv\r\n' % i
            for i in range(5000)
        )
        + b"--"
        + boundary
        + b"--\r\n"
    )
    yield Probe("5000-fields", "multipart", _multipart("/v1/crops", many, ctype))
    files = (
        b"".join(
            b"--"
            + boundary
            + b'\r\nContent-Disposition: form-data; name="image"; filename="x"\r\n\r\nx\r\n'
            for _ in range(300)
        )
        + b"--"
        + boundary
        + b"--\r\n"
    )
    yield Probe("300-files", "multipart", _multipart("/v1/crops", files, ctype))
    nested = (
        b"--"
        + boundary
        + b'\r\nContent-Disposition: form-data; name="image"; filename="x"\r\nContent-Type: multipart/mixed; boundary=inner\r\n\r\n--inner\r\n\r\n'
        + crop
        + b"\r\n--inner--\r\n--"
        + boundary
        + b"--\r\n"
    )
    yield Probe("nested-multipart", "multipart", _multipart("/v1/crops", nested, ctype))
    yield Probe("multipart-on-frame", "multipart", _multipart("/v1/frame", body, ctype))


def _query_probes() -> Iterator[Probe]:
    crop = CROP.read_bytes()
    queries = [
        "model=xyz",
        "model=",
        "model=cascade",
        "model=attention&model=cascade",
        "model=%00",
        "max_faces=-1",
        "max_faces=0",
        "max_faces=1e308",
        "max_faces=NaN",
        "max_faces=99999999999999999999999",
        "max_faces=1&max_faces=2",
        "rotation_search=maybe",
        "rotation_search=",
        "rotation_search=%FF",
        "x=" + "a" * 6000,
        "&&&&&&&&",
        "%",
        "%%%",
        "a=%E0%A4%A",
        "model=attention;drop",
    ]
    for query in queries:
        for path, ctype in (("/v1/crop", "image/png"), ("/v1/frame", "image/png")):
            yield Probe(f"{path}?{query[:30]}", "query", _post(f"{path}?{query}", crop, ctype))
    for path in (
        "/v1/../v1/crop",
        "/v1//crop",
        "/V1/CROP",
        "/v1/crop/",
        "/v1/crop%00",
        "/v1/%2e%2e/metrics",
        "/" + "a" * 3000,
        "/metrics?name[]=x",
        "/docs%20",
        "/openapi.json/..",
    ):
        yield Probe(f"path-{path[:30]}", "query", _post(path, crop, "image/png"))


def _header_probes() -> Iterator[Probe]:
    crop = CROP.read_bytes()
    for ctype in (
        "",
        "image/",
        "image/png; charset=utf-8",
        "IMAGE/PNG",
        "text/html",
        "application/json",
        "image/png, image/jpeg",
        "\x00",
        "image/svg+xml",
        "multipart/mixed",
        "application/x-www-form-urlencoded",
        "image/png" + ";a=b" * 500,
    ):
        yield Probe(
            f"content-type-{ctype[:20]!r}", "headers", _post("/v1/crop", crop, ctype or None)
        )
    extras: dict[str, list[tuple[str, str]]] = {
        "x-request-id-junk": [("X-Request-ID", "\x7f" * 100)],
        "x-request-id-long": [("X-Request-ID", "a" * 4000)],
        "authorization-junk": [("Authorization", "Bearer " + "x" * 4000)],
        "duplicate-api-key": [("x-api-key", "a"), ("x-api-key", "b")],
        "accept-encoding-bomb": [("Accept-Encoding", "gzip;q=1, " * 300)],
        "expect-100": [("Expect", "100-continue")],
        "expect-junk": [("Expect", "200-ok")],
        "forwarded": [("X-Forwarded-For", "1.2.3.4, " * 200)],
        "origin": [("Origin", "https://evil.example")],
    }
    for name, headers in extras.items():
        yield Probe(f"header-{name}", "headers", partial(_post_with_headers, crop, headers))


def _protocol_probes() -> Iterator[Probe]:
    crop = CROP.read_bytes()
    head = b"POST /v1/crop HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
    requests = {
        "big-header": b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n",
        "many-headers": b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
        + b"".join(b"X-%d: v\r\n" % i for i in range(200))
        + b"\r\n",
        "long-url": b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        "cl-and-te": head + b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "two-content-lengths": head + b"Content-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
        "negative-content-length": head + b"Content-Length: -1\r\n\r\n",
        "huge-content-length": head + b"Content-Length: 99999999999999999999\r\n\r\n",
        "bad-chunk-size": head + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",
        "chunk-size-overflow": head + b"Transfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n",
        "te-identity-gzip": head + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        "http-1.0": b"GET /healthz HTTP/1.0\r\n\r\n",
        "http-0.9": b"GET /healthz\r\n\r\n",
        "http-2-preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        "tls-hello": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 200,
        "garbage": bytes(range(256)) * 4 + b"\r\n\r\n",
        "lf-only": b"GET /healthz HTTP/1.1\nHost: x\n\n",
        "space-before-colon": b"GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n",
        "obs-fold": b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n",
        "nul-in-header": b"GET /healthz HTTP/1.1\r\nHost: x\x00y\r\n\r\n",
        "absolute-uri": b"GET http://evil.example/healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        "connect": b"CONNECT evil.example:443 HTTP/1.1\r\nHost: x\r\n\r\n",
        "trace": b"TRACE /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        "unknown-method": b"BREW /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        "pipelined-10": b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 10,
        "pipelined-post-then-get": head
        + b"Content-Length: %d\r\n\r\n" % len(crop)
        + crop
        + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        "upgrade-h2c": b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n",
        "upgrade-websocket-no-key": b"GET /v1/track HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
        "upgrade-websocket-bad-version": b"GET /v1/track HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: x\r\nSec-WebSocket-Version: 99\r\n\r\n",
    }
    for name, data in requests.items():
        yield Probe(name, "protocol", partial(_raw, data))


def _raw(data: bytes, server: LiveServer) -> str | int:
    return raw_exchange(server, data)


def _slow_probes() -> Iterator[Probe]:
    crop = CROP.read_bytes()
    head = (
        b"POST /v1/crop HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: %d\r\n\r\n"
        % len(crop)
    )
    yield Probe(
        "stalled-headers",
        "slow",
        lambda server: raw_exchange(server, b"POST /v1/crop HTTP/1.1\r\nHost: x\r\n"),
    )
    yield Probe("silent-connection", "slow", lambda server: raw_exchange(server, b""))
    yield Probe("stalled-body", "slow", lambda server: raw_exchange(server, head + crop[:100]))
    yield Probe(
        "late-rest-of-body",
        "slow",
        lambda server: raw_exchange(server, head + crop[:100], pause_s=0.5, then=crop[100:]),
    )
    for fraction in (0.0, 0.1, 0.5, 0.99):
        yield Probe(
            f"dropped-at-{fraction}",
            "slow",
            partial(_dropped_after, head, crop[: int(len(crop) * fraction)]),
        )


def _dropped_after(head: bytes, partial_body: bytes, server: LiveServer) -> str | int:
    return _dropped(server, head, partial_body)


def _ws(
    server: LiveServer,
    actions: Callable[..., str],
    subprotocols: list[str] | None = None,
    query: str = "",
) -> str:
    url = server.base_url.replace("http://", "ws://") + "/v1/track" + query
    try:
        offered = None if subprotocols is None else [Subprotocol(p) for p in subprotocols]
        with connect(url, max_size=None, open_timeout=READ_LIMIT_S, subprotocols=offered) as ws:
            return actions(ws)
    except ConnectionClosed as exc:
        return f"{WS_PREFIX}{exc.rcvd.code}" if exc.rcvd else WS_DROPPED
    except InvalidHandshake as exc:
        return f"{WS_PREFIX}handshake:{type(exc).__name__}"


def _ws_send(*messages: bytes | str) -> Callable[[object], str]:
    def actions(ws: object) -> str:
        outcome = "message"
        for message in messages:
            ws.send(message)  # type: ignore[attr-defined]
            answer = json.loads(ws.recv(timeout=READ_LIMIT_S))  # type: ignore[attr-defined]
            outcome = answer["error"]["code"] if "error" in answer else "message"
        return f"{WS_PREFIX}{outcome}"

    return actions


def _websocket_probes() -> Iterator[Probe]:
    crop = CROP.read_bytes()
    noise = np.random.default_rng(1).integers(0, 256, (1200, 1200, 3), np.uint8)
    big = _encode(Image.fromarray(noise), "PNG")
    cases: dict[str, tuple[Callable[[object], str], list[str] | None]] = {
        "text": (_ws_send("hello"), None),
        "empty-binary": (_ws_send(b""), None),
        "not-an-image": (_ws_send(b"nope" * 10), None),
        "text-then-frame": (_ws_send("x", crop), None),
        "oversized-frame": (_ws_send(big), None),
        "amplifier-frame": (_ws_send(png(4000, 4000, 16, 6)), None),
        "other-subprotocol": (_ws_send(crop), ["chat.v9"]),
        "apikey-only-subprotocol": (_ws_send(crop), ["apikey.x"]),
        "json-text": (_ws_send(json.dumps({"image": "x" * 1000})), None),
        "text-not-utf8": (_ws_send_raw_text(b"\xff\xfe\xfd not UTF-8"), None),
        "text-cut-utf8": (_ws_send_raw_text("caf\u00e9".encode()[:-1]), None),
        "two-apikey-subprotocols": (_ws_send(crop), ["apikey.a", "apikey.b"]),
        "two-apikey-subprotocols-reversed": (_ws_send(crop), ["apikey.b", "apikey.a"]),
        "idle-after-one-frame": (_ws_send_then_wait(crop), None),
        "idle-from-the-start": (_ws_send_then_wait(), None),
    }
    for name, (actions, protocols) in cases.items():
        yield Probe(f"ws-{name}", "websocket", partial(_ws_case, actions, protocols, ""))
    for query in (
        "max_faces=0",
        "max_faces=-1",
        "max_faces=abc",
        "fov_degrees=1e-300",
        "fov_degrees=0",
        "fov_degrees=170",
        "fov_degrees=nan",
        "fov_degrees=inf",
        "smoothing=maybe",
    ):
        yield Probe(
            f"ws-query-{query}", "websocket", partial(_ws_case, _ws_send(crop), None, "?" + query)
        )
    yield Probe(
        "ws-close-at-once", "websocket", lambda s: _ws(s, lambda ws: f"{WS_PREFIX}client-closed")
    )
    handshakes = {
        "empty-subprotocol": ["Sec-WebSocket-Protocol: "],
        "invalid-subprotocol": ["Sec-WebSocket-Protocol: a b@c"],
        "comma-subprotocols": ["Sec-WebSocket-Protocol: ,,,"],
        "duplicate-version": ["Sec-WebSocket-Version: 13"],
        "duplicate-key": ["Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="],
        "bad-extension": ["Sec-WebSocket-Extensions: permessage-deflate; x=\x01"],
    }
    for name, extra in handshakes.items():
        yield Probe(
            f"ws-handshake-{name}",
            "websocket",
            partial(_raw, websocket_upgrade("/v1/track", extra)),
        )
    for query in ("max_faces=0", "fov_degrees=1e-300"):
        yield Probe(
            f"ws-handshake-query-{query}",
            "websocket",
            partial(_raw, websocket_upgrade("/v1/track?" + query)),
        )


def _ws_send_raw_text(data: bytes) -> Callable[[object], str]:
    """Send ``data`` as a text frame, whatever its encoding."""

    def actions(ws: object) -> str:
        ws.send(data, text=True)  # type: ignore[attr-defined]
        answer = json.loads(ws.recv(timeout=READ_LIMIT_S))  # type: ignore[attr-defined]
        return f"{WS_PREFIX}{answer['error']['code'] if 'error' in answer else 'message'}"

    return actions


def _ws_send_then_wait(*frames: bytes) -> Callable[[object], str]:
    """Send ``frames``, then nothing: the server must end the session itself (its TTL)."""

    def actions(ws: object) -> str:
        for frame in frames:
            ws.send(frame)  # type: ignore[attr-defined]
            ws.recv(timeout=READ_LIMIT_S)  # type: ignore[attr-defined]
        ws.recv(timeout=READ_LIMIT_S)  # type: ignore[attr-defined]
        return f"{WS_PREFIX}message"  # not expected: a message without a frame

    return actions


def _ws_case(
    actions: Callable[[object], str], protocols: list[str] | None, query: str, server: LiveServer
) -> str:
    return _ws(server, actions, protocols, query)


def _more_http_probes() -> Iterator[Probe]:
    """Cases from the third red-team round: fields of view, slashes, HEAD, batch limits,
    concurrent amplifiers."""
    frame = FRAME.read_bytes()
    crop = CROP.read_bytes()
    for fov in ("1e-300", "1e-150", "0.5", "170", "179.9999", "nan", "-inf"):
        yield Probe(
            f"frame-fov-{fov}", "query", _post(f"/v1/frame?fov_degrees={fov}", frame, "image/png")
        )
    for path in ("/v1/crop/", "/v1/crops/", "/v1/frame/", "/readyz/", "/v1/"):
        yield Probe(
            f"slash-evil-host-{path}",
            "query",
            partial(_post_with_host, path, crop, "evil.example"),
        )
    for path in ("/healthz", "/readyz"):
        yield Probe(f"head-{path}", "query", partial(_head, path))
    yield Probe("crops-zero-images", "multipart", _crops([]))
    yield Probe("crops-one-over-the-limit", "multipart", _crops([crop] * 9))
    amplifier = png(4000, 4000, 16, 6)
    yield Probe("four-concurrent-amplifier-crops", "images", partial(_concurrent, amplifier, 4))


def _post_with_host(path: str, body: bytes, host: str, server: LiveServer) -> int:
    headers = {"Content-Type": "image/png", "Host": host}
    return _checked(server.client().post(path, content=body, headers=headers))


def _head(path: str, server: LiveServer) -> int:
    response = server.client().head(path)
    return response.status_code if response.content == b"" else 299  # a HEAD with a body


def _concurrent(image: bytes, count: int, server: LiveServer) -> int:
    """``count`` /v1/crop of ``image`` at once, each on its own connection; the worst status."""
    statuses: list[int] = []

    def one() -> None:
        with server.new_client() as client:
            response = client.post("/v1/crop", content=image, headers={"Content-Type": "image/png"})
            statuses.append(_checked(response))

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return max(statuses) if len(statuses) == count else 599


# --- gRPC -------------------------------------------------------------------------------------

TRACK_METHOD = "/facemesh.tracking.v1.FaceTracking/Track"


def _grpc_target(server: LiveServer) -> str:
    return f"127.0.0.1:{server.env['FACEMESH_GRPC_PORT']}"


def _grpc_outcome(call: Callable[[], list[bytes]]) -> str:
    """``grpc:OK[:codes of in-band errors]`` or ``grpc:<status>``."""
    from service.tracking import tracking_pb2

    try:
        answers = call()
    except grpc.RpcError as exc:
        return f"{GRPC_PREFIX}{exc.code().name}"  # type: ignore[attr-defined]
    codes = [tracking_pb2.FrameResult.FromString(a).error.code for a in answers]
    errors = [code for code in codes if code]
    return f"{GRPC_PREFIX}OK" + (":" + ",".join(errors) if errors else "")


def _grpc_stream(
    messages: list[bytes],
    server: LiveServer,
    *,
    hold: bool = False,
    metadata: tuple[tuple[str, str], ...] = (),
    method: str = TRACK_METHOD,
) -> str:
    """Send raw ``messages`` on one ``Track`` call (then, with ``hold``, keep the client's
    side open until the server ends the call); the outcome."""
    release = threading.Event()

    def requests() -> Iterator[bytes]:
        yield from messages
        if hold:
            release.wait(READ_LIMIT_S)

    options = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]
    with grpc.insecure_channel(_grpc_target(server), options=options) as channel:
        track = channel.stream_stream(
            method, request_serializer=lambda b: b, response_deserializer=lambda b: b
        )
        try:
            return _grpc_outcome(
                lambda: list(track(requests(), metadata=metadata, timeout=READ_LIMIT_S))
            )
        finally:
            release.set()


def _grpc_waiting_flood(count: int, server: LiveServer) -> str:
    """``count`` streams that send nothing, at once: past the limit they are refused."""
    release = threading.Event()

    def nothing() -> Iterator[bytes]:
        release.wait(READ_LIMIT_S)
        yield from ()

    with grpc.insecure_channel(_grpc_target(server)) as channel:
        track = channel.stream_stream(
            TRACK_METHOD, request_serializer=lambda b: b, response_deserializer=lambda b: b
        )
        calls = [track(nothing(), timeout=READ_LIMIT_S) for _ in range(count)]
        outcomes = []
        try:
            for call in calls:
                outcomes.append(_grpc_outcome(lambda call=call: list(call)))  # type: ignore[misc]
        finally:
            release.set()
            for call in calls:
                call.cancel()
    refused = f"{GRPC_PREFIX}RESOURCE_EXHAUSTED"
    return refused if refused in outcomes else ",".join(sorted(set(outcomes)))


def _grpc_probes() -> Iterator[Probe]:
    from service.tracking import tracking_pb2

    frame = FRAME.read_bytes()
    limit = int(CORPUS_SETTINGS["FACEMESH_MAX_BODY_BYTES"])

    def message(image: bytes = frame, **fields: object) -> bytes:
        return tracking_pb2.Frame(image=image, **fields).SerializeToString()  # type: ignore[arg-type]

    good = message()
    cases: dict[str, Callable[[LiveServer], str]] = {
        "good-frame": partial(_grpc_stream, [good]),
        "empty-stream": partial(_grpc_stream, []),
        "not-protobuf": partial(_grpc_stream, [b"\xff\xff\xff\xff not a protobuf"]),
        "truncated-protobuf": partial(_grpc_stream, [good[: len(good) // 2]]),
        "frame-then-garbage": partial(_grpc_stream, [good, b"\x0a\xff\xff\xff\xff\x0f"]),
        "wrong-field-types": partial(_grpc_stream, [b"\x10" + b"\xff" * 11]),
        "empty-message": partial(_grpc_stream, [b""]),
        "not-an-image": partial(_grpc_stream, [message(b"nope" * 10)]),
        "amplifier-frame": partial(_grpc_stream, [message(png(4000, 4000, 16, 6))]),
        "image-over-body-limit": partial(_grpc_stream, [message(b"\0" * (limit + 1)), good]),
        "message-over-grpc-limit": partial(_grpc_stream, [message(b"\0" * (limit + 128 * 1024))]),
        "max-faces-huge": partial(_grpc_stream, [message(max_faces=2**32 - 1)]),
        "no-first-frame": partial(_grpc_stream, [], hold=True),
        "idle-after-one-frame": partial(_grpc_stream, [good], hold=True),
        "waiting-flood": partial(
            _grpc_waiting_flood, int(CORPUS_SETTINGS["FACEMESH_TRACKING_MAX_SESSIONS"]) + 1
        ),
        "duplicate-key-metadata": partial(
            _grpc_stream, [good], metadata=(("x-api-key", "a"), ("x-api-key", "b"))
        ),
        "unknown-method": partial(
            _grpc_stream, [good], method="/facemesh.tracking.v1.FaceTracking/Nope"
        ),
    }
    for fov in (1e-300, 0.0, -1.0, 0.5, 170.0, 180.0, float("nan"), float("inf")):
        cases[f"fov-{fov:g}"] = partial(_grpc_stream, [message(fov_degrees=fov)])
    for name, send in cases.items():
        yield Probe(f"grpc-{name}", "grpc", send)


def probes(seed: int = 13) -> list[Probe]:
    """The whole corpus, in a fixed order (``seed`` drives the bit flips)."""
    rng = random.Random(seed)
    return [
        *_image_probes(rng),
        *_multipart_probes(),
        *_query_probes(),
        *_header_probes(),
        *_protocol_probes(),
        *_slow_probes(),
        *_more_http_probes(),
        *_websocket_probes(),
        *_grpc_probes(),
    ]


# --- running it -----------------------------------------------------------------------------


def run_corpus(server: LiveServer, corpus: list[Probe] | None = None) -> CorpusReport:
    """Send every probe once; the report (server health and RSS included)."""
    corpus = corpus if corpus is not None else probes()
    process = psutil.Process(server.process.pid)
    report = CorpusReport(
        rss_start_mb=process.memory_info().rss / 2**20, hwm_start_mb=vmhwm_mb(server.process.pid)
    )
    report.rss_peak_mb = report.rss_start_mb
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            try:
                rss = process.memory_info().rss / 2**20
            except psutil.Error:
                return
            report.rss_peak_mb = max(report.rss_peak_mb, rss)
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        for probe in corpus:
            report.probes += 1
            report.by_kind[probe.kind] += 1
            try:
                outcome: str | int = probe.send(server)
            except NonJsonError as exc:
                outcome = int(str(exc))
                report.non_json_errors.append(probe.name)
            except httpx.TransportError:
                outcome = CLOSED
            report.outcomes[str(outcome)] += 1
            if isinstance(outcome, int) and outcome >= 500:
                report.server_errors.append((probe.name, outcome))
            if isinstance(outcome, int) and 300 <= outcome < 400:
                report.redirects.append((probe.name, outcome))
            if outcome == WS_DROPPED:
                report.dropped.append(probe.name)
            if str(outcome).removeprefix(GRPC_PREFIX) in GRPC_SERVER_ERRORS:
                report.server_errors.append((probe.name, outcome))
            if server.process.poll() is not None:
                report.alive = False
                break
    finally:
        done.set()
        sampler.join()
    if report.alive:
        try:
            health = httpx.get(f"{server.base_url}/readyz", timeout=READ_LIMIT_S)
            report.healthy = health.status_code == 200
        except httpx.TransportError:
            report.healthy = False
        report.rss_end_mb = process.memory_info().rss / 2**20
        report.hwm_end_mb = vmhwm_mb(server.process.pid)
    report.tracebacks = server.log().count("Traceback")
    return report


def vmhwm_mb(pid: int) -> float:
    """The process's peak resident set since it started (``VmHWM``, /proc), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


def main() -> None:
    # The websockets client logs a traceback when the server closes mid-send (oversized
    # frames): expected here, and not the server's.
    logging.getLogger("websockets").setLevel(logging.CRITICAL)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as log_dir:
        server = start_server(corpus_settings(), Path(log_dir))
        try:
            report = run_corpus(server, probes(args.seed))
        finally:
            server.stop()
    print(json.dumps(report.summary(), indent=2))


if __name__ == "__main__":
    main()
