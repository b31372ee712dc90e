"""Every JPEG coding process (SOF type) through every decode mode on every transport of a
real gateway, the process checked alive after each.

``jpeg_cases()`` builds the cases: real encoders' output of each process the project can get
(baseline and progressive from Pillow; lossless 8/16-bit, 12-bit, arithmetic from
``tests/data/jpeg_processes``), every other SOF marker put on real baseline data, lossless
data declared baseline, and broken frame headers (height 0, width 0, 2 components, a lying
3999x3999). Each case maps to the ``error.code`` every transport must answer (None: a
result). ``run_matrix(server, grpc_target)`` sends each case as:

- ``crop``: ``POST /v1/crop`` (768 px short side: DCT-scaled at 1/2 when allowed)
- ``crops``: ``POST /v1/crops`` with two copies (threadpool, scaled)
- ``frame``: ``POST /v1/frame`` (whole decode)
- ``ws``: ``/v1/track``: the case as frame 0 (whole), a face frame, the case again as frame 2
  (the reduced decode of a tracked frame)
- ``grpc``: the same three frames on one ``FaceTracking/Track`` stream

and returns one ``Outcome`` per (case, transport, mode): the code received and whether the
gateway process was alive and answering ``/healthz`` afterwards.
``tests/service/test_hostile_corpus.py`` runs it; ``python -m tools.decode_matrix`` starts a
gateway and prints the table.
"""

from __future__ import annotations

import gzip
import io
import json
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import numpy as np
from PIL import Image
from websockets.sync.client import connect

from tools.servers.gateway import LiveServer, start_server
from tools.servers.ports import free_port

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = REPO_ROOT / "tests" / "data" / "jpeg_processes"
FACE_FRAME = REPO_ROOT / "tests" / "data" / "frames" / "lenna.png"
WIDTH, HEIGHT = 768, 900  # the fixtures' size: a crop this size decodes scaled at 1/2
TRACK_METHOD = "/facemesh.tracking.v1.FaceTracking/Track"
READ_LIMIT_S = 60.0
UNSUPPORTED = "unsupported_image_mode"
CORRUPT = "corrupt_image"
# Each mode a transport exercises (see the module docstring).
TRANSPORT_MODES = (
    ("crop", "scaled"),
    ("crops", "scaled"),
    ("frame", "whole"),
    ("ws", "whole"),
    ("ws", "reduced"),
    ("grpc", "whole"),
    ("grpc", "reduced"),
)
OTHER_SOF = (0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF)


@dataclass(frozen=True)
class Outcome:
    case: str
    transport: str
    mode: str
    expected: str | None
    got: str | None
    alive: bool

    @property
    def ok(self) -> bool:
        return self.alive and self.got == self.expected


def _encode(rgb: np.ndarray, **params: object) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=90, **params)
    return buffer.getvalue()


def _segments(data: bytes) -> Iterator[tuple[int, int, int]]:
    """(offset, marker, length) of each marker segment before the first scan (trusted data)."""
    pos = 2
    while True:
        marker = data[pos + 1]
        (length,) = struct.unpack_from(">H", data, pos + 2)
        yield pos, marker, length
        if marker == 0xDA:
            return
        pos += 2 + length


def _frame_header(data: bytes) -> tuple[int, int]:
    """(offset, length) of the SOF segment."""
    for pos, marker, length in _segments(data):
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return pos, length
    raise ValueError("no SOF")


def with_sof(data: bytes, marker: int) -> bytes:
    """``data`` with its SOF marker replaced by ``marker`` (0xC0-0xCF)."""
    pos, _ = _frame_header(data)
    return data[: pos + 1] + bytes([marker]) + data[pos + 2 :]


def with_size(data: bytes, width: int, height: int) -> bytes:
    """``data`` whose frame header claims ``width`` x ``height``."""
    pos, _ = _frame_header(data)
    return data[: pos + 5] + struct.pack(">HH", height, width) + data[pos + 9 :]


def with_components(data: bytes, count: int) -> bytes:
    """``data`` whose frame header declares ``count`` components (ids 1.., 1x1, table 0)."""
    pos, length = _frame_header(data)
    precision_and_size = data[pos + 4 : pos + 9]
    body = (
        precision_and_size
        + bytes([count])
        + b"".join(bytes([i + 1, 0x11, 0]) for i in range(count))
    )
    segment = data[pos : pos + 2] + struct.pack(">H", 2 + len(body)) + body
    return data[:pos] + segment + data[pos + 2 + length :]


def fixture(name: str) -> bytes:
    return gzip.decompress((FIXTURES / f"{name}.jpg.gz").read_bytes())


def jpeg_cases() -> dict[str, tuple[bytes, str | None]]:
    """Case name -> (JPEG bytes, the ``error.code`` expected on every transport; None: a
    result)."""
    flat = np.full((HEIGHT, WIDTH, 3), 100, np.uint8)
    baseline = _encode(flat)
    lossless = fixture("lossless8_sof3")
    cases: dict[str, tuple[bytes, str | None]] = {
        "sof0-baseline": (baseline, None),
        "sof1-extended": (with_sof(baseline, 0xC1), None),
        "sof2-progressive": (_encode(flat, progressive=True), None),
        "sof3-lossless-8bit": (lossless, UNSUPPORTED),
        "sof3-lossless-16bit": (fixture("lossless16_sof3"), UNSUPPORTED),
        "sof1-12bit": (fixture("precision12_sof1"), UNSUPPORTED),
        "sof9-arithmetic": (fixture("arithmetic_sof9"), UNSUPPORTED),
        "sof10-arithmetic-progressive": (fixture("arithmetic_progressive_sof10"), UNSUPPORTED),
        "sof9-arithmetic-claims-3999": (
            with_size(fixture("arithmetic_sof9"), 3999, 3999),
            UNSUPPORTED,
        ),
        "sof0-huffman-claims-3999": (with_size(baseline, 3999, 3999), CORRUPT),
        "sof0-height-0": (with_size(baseline, WIDTH, 0), CORRUPT),
        "sof0-width-0": (with_size(baseline, 0, HEIGHT), CORRUPT),
        "sof0-2-components": (with_components(baseline, 2), UNSUPPORTED),
        "sof0-5-components": (with_components(baseline, 5), UNSUPPORTED),
    }
    for marker in OTHER_SOF:
        cases[f"sof{marker - 0xC0}-on-baseline-data"] = (with_sof(baseline, marker), UNSUPPORTED)
    for marker in (0xC0, 0xC1, 0xC2):
        cases[f"lossless-data-as-sof{marker - 0xC0}"] = (with_sof(lossless, marker), CORRUPT)
    return cases


def _png(width: int, height: int) -> bytes:
    """A greyscale PNG of zeros, any size (the hostile corpus' writer)."""
    from tools.hostile import png

    return png(width, height, 8, 0)


def side_cases() -> dict[str, tuple[bytes, str | None]]:
    """The longest sides: up to OpenCV's 32766 px an answer, past it 413 ``image_too_large``
    (a 32767x32 PNG is 1.2 KB)."""
    return {
        "32766x32": (_png(32766, 32), None),
        "32x32766": (_png(32, 32766), None),
        "32767x32": (_png(32767, 32), "image_too_large"),
        "32x32767": (_png(32, 32767), "image_too_large"),
        "65535x32": (_png(65535, 32), "image_too_large"),
    }


def header_flood_cases(scale: int = 20_000) -> dict[str, tuple[bytes, str | None]]:
    """``tools/flood.py``'s hostile headers (empty APP15 or COM segments, fill bytes, empty PNG
    chunks), each refused from its header as ``unsupported_image_header``."""
    from tools.flood import bombs

    floods = ("jpeg-app15", "jpeg-com", "jpeg-fill", "png-chunks")
    return {name: (body, "unsupported_image_header") for name, (body, _) in
            bombs(scale).items() if name in floods}  # fmt: skip


def _face_frame() -> bytes:
    """A large JPEG with one large face: tracking it makes the next frame decode reduced."""
    with Image.open(FACE_FRAME) as image:
        big = image.convert("RGB").resize((image.width * 3, image.height * 3))
    return _encode(np.asarray(big))


def _http(server: LiveServer, transport: str, data: bytes) -> str | None:
    client = server.client()
    if transport == "crops":
        kind = "image/png" if data.startswith(b"\x89PNG") else "image/jpeg"
        files = [("image", (f"{i}", data, kind)) for i in range(2)]
        response = client.post("/v1/crops", files=files)
    else:
        path = "/v1/crop" if transport == "crop" else "/v1/frame"
        kind = "image/png" if data.startswith(b"\x89PNG") else "image/jpeg"
        response = client.post(path, content=data, headers={"Content-Type": kind})
    if response.status_code == 200:
        return None
    return str(response.json()["error"]["code"])


def _ws(server: LiveServer, frames: list[bytes]) -> list[str | None]:
    url = server.base_url.replace("http://", "ws://") + "/v1/track"
    codes: list[str | None] = []
    with connect(url, max_size=None, open_timeout=READ_LIMIT_S) as ws:
        for frame in frames:
            ws.send(frame)
            answer = json.loads(ws.recv(timeout=READ_LIMIT_S))
            codes.append(answer["error"]["code"] if "error" in answer else None)
    return codes


def _grpc(target: str, frames: list[bytes]) -> list[str | None]:
    from service.tracking import tracking_pb2

    messages = [tracking_pb2.Frame(image=f).SerializeToString() for f in frames]
    options = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]
    with grpc.insecure_channel(target, options=options) as channel:
        track = channel.stream_stream(
            TRACK_METHOD, request_serializer=lambda b: b, response_deserializer=lambda b: b
        )
        answers = list(track(iter(messages), timeout=READ_LIMIT_S))
    codes = [tracking_pb2.FrameResult.FromString(a).error.code for a in answers]
    return [code or None for code in codes]


def _alive(server: LiveServer) -> bool:
    if server.process.poll() is not None:
        return False
    try:
        return httpx.get(f"{server.base_url}/healthz", timeout=READ_LIMIT_S).status_code == 200
    except httpx.TransportError:
        return False


def _failed(error: Exception) -> str:
    return f"!{type(error).__name__}"


def run_matrix(
    server: LiveServer, grpc_target: str, cases: dict[str, tuple[bytes, str | None]] | None = None
) -> list[Outcome]:
    """Each case on each transport and mode; stops at the first dead process."""
    cases = jpeg_cases() if cases is None else cases
    face = _face_frame()
    outcomes: list[Outcome] = []
    for name, (data, expected) in cases.items():
        for transport in ("crop", "crops", "frame", "ws", "grpc"):
            got: list[str | None]
            try:
                if transport == "ws":
                    answers = _ws(server, [data, face, data])
                    got = [answers[0], answers[2]]
                elif transport == "grpc":
                    answers = _grpc(grpc_target, [data, face, data])
                    got = [answers[0], answers[2]]
                else:
                    got = [_http(server, transport, data)]
            except Exception as exc:  # a dead server fails every way
                got = [_failed(exc)] * (2 if transport in ("ws", "grpc") else 1)
            alive = _alive(server)
            modes = [m for t, m in TRANSPORT_MODES if t == transport]
            for mode, code in zip(modes, got, strict=True):
                outcomes.append(Outcome(name, transport, mode, expected, code, alive))
            if not alive:
                return outcomes
    return outcomes


def main() -> None:
    grpc_port = free_port()
    settings = {"FACEMESH_GRPC_ENABLED": "true", "FACEMESH_GRPC_PORT": str(grpc_port)}
    with tempfile.TemporaryDirectory() as log_dir:
        server = start_server(settings, Path(log_dir))
        try:
            outcomes = run_matrix(server, f"127.0.0.1:{grpc_port}")
        finally:
            server.stop()
    for o in outcomes:
        mark = "ok" if o.ok else "MISMATCH"
        got = o.got or "result"
        print(f"{o.case:34} {o.transport:5} {o.mode:7} {got:24} alive={o.alive} {mark}")
    print(f"{len(outcomes)} outcomes, {sum(o.ok for o in outcomes)} as expected, "
          f"alive after all: {all(o.alive for o in outcomes)}")  # fmt: skip


if __name__ == "__main__":
    main()
