"""Floods a real gateway with hostile headers and small bombs; prints how long ``/healthz``
took at worst meanwhile (the event loop's stall), and the load average before and after.

The bombs (``bombs(scale)``), each sent by ``--clients`` clients at once for ``--seconds``:

- ``jpeg-app15``: a JPEG whose header is ``scale`` empty APP15 segments (4 bytes each)
- ``jpeg-com``: the same with empty COM segments
- ``jpeg-fill``: ``4 * scale`` 0xFF fill bytes before the first marker
- ``png-chunks``: a PNG with ``scale / 3`` empty ancillary chunks before its image data
- ``png16-4000``: a 4000x4000 16-bit RGBA PNG of zeros (about 124 KB: decodes to 16 MP)
- ``crop``: a real 192x192 face crop (the baseline: what a client sends)

``scale`` 2,500,000 makes the JPEG bombs 10 MB (the default body limit); the gateway started
here gets a body limit to fit. Meanwhile one client asks ``/healthz`` every 20 ms. Timing
figures from a busy machine mean nothing: run it on a quiet one
(``python -m tools.flood``; ``--scale 20000 --seconds 2`` checks that it works). Only
loopback; every loop is bounded.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import struct
import tempfile
import threading
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from PIL import Image

from tools.hostile import png
from tools.servers.gateway import LiveServer, start_server

REPO_ROOT = Path(__file__).resolve().parents[1]
CROP = REPO_ROOT / "tests" / "data" / "crops" / "lenna_face0.png"
HEALTH_EVERY_S = 0.02
READ_LIMIT_S = 60.0


def _chunk(kind: bytes, data: bytes = b"") -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def _small_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.open(CROP).convert("RGB").save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def bombs(scale: int) -> dict[str, tuple[bytes, str]]:
    """Name -> (body, content type)."""
    jpeg = _small_jpeg()
    small_png = png(64, 64, 8, 2)
    return {
        "jpeg-app15": (jpeg[:2] + b"\xff\xef\x00\x02" * scale + jpeg[2:], "image/jpeg"),
        "jpeg-com": (jpeg[:2] + b"\xff\xfe\x00\x02" * scale + jpeg[2:], "image/jpeg"),
        "jpeg-fill": (jpeg[:2] + b"\xff" * (4 * scale) + jpeg[2:], "image/jpeg"),
        "png-chunks": (
            small_png[:33] + _chunk(b"prVt") * (scale // 3) + small_png[33:],
            "image/png",
        ),
        "png16-4000": (png(4000, 4000, 16, 6), "image/png"),
        "crop": (CROP.read_bytes(), "image/png"),
    }


@dataclass
class FloodResult:
    name: str
    body_bytes: int
    sent: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    health_ms: list[float] = field(default_factory=list)
    load_before: float = 0.0
    load_after: float = 0.0

    def line(self) -> str:
        worst = max(self.health_ms, default=float("nan"))
        median = statistics.median(self.health_ms) if self.health_ms else float("nan")
        codes = ",".join(f"{k}:{v}" for k, v in sorted(self.statuses.items()))
        return (
            f"{self.name:11} body {self.body_bytes / 1e6:6.2f} MB  sent {self.sent:5}  "
            f"/healthz worst {worst:8.1f} ms  median {median:6.1f} ms  "
            f"({len(self.health_ms)} probes)  load {self.load_before:.2f} -> "
            f"{self.load_after:.2f}  answers {codes}"
        )


def flood(
    base_url: str, name: str, body: bytes, content_type: str, clients: int, seconds: float
) -> FloodResult:
    """``clients`` threads post ``body`` to /v1/crop for ``seconds`` while another asks
    /healthz every 20 ms."""
    result = FloodResult(name, len(body), load_before=os.getloadavg()[0])
    stop = threading.Event()
    lock = threading.Lock()

    def sender() -> None:
        with httpx.Client(base_url=base_url, timeout=READ_LIMIT_S) as client:
            while not stop.is_set():
                try:
                    response = client.post(
                        "/v1/crop", content=body, headers={"Content-Type": content_type}
                    )
                    outcome = str(response.status_code)
                    if response.status_code >= 400:
                        outcome += ":" + response.json()["error"]["code"]
                except httpx.HTTPError as exc:
                    outcome = type(exc).__name__
                with lock:
                    result.sent += 1
                    result.statuses[outcome] += 1

    def health() -> None:
        with httpx.Client(base_url=base_url, timeout=READ_LIMIT_S) as client:
            while not stop.is_set():
                start = time.perf_counter()
                try:
                    client.get("/healthz")
                except httpx.HTTPError:
                    result.statuses["healthz-failed"] += 1
                result.health_ms.append((time.perf_counter() - start) * 1000)
                time.sleep(HEALTH_EVERY_S)

    threads = [threading.Thread(target=sender) for _ in range(clients)]
    threads.append(threading.Thread(target=health))
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join(READ_LIMIT_S)
    result.load_after = os.getloadavg()[0]
    return result


def run(server_url: str, scale: int, clients: int, seconds: float) -> list[FloodResult]:
    results = []
    for name, (body, kind) in bombs(scale).items():
        results.append(flood(server_url, name, body, kind, clients, seconds))
        print(results[-1].line(), flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--url", help="an already running gateway (default: start one)")
    parser.add_argument("--scale", type=int, default=2_500_000, help="empty segments per JPEG")
    parser.add_argument("--clients", type=int, default=4, help="concurrent flooding clients")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each flood")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}")
    if args.url:
        run(args.url, args.scale, args.clients, args.seconds)
        return
    body_limit = max(len(body) for body, _ in bombs(args.scale).values()) + 1024
    settings = {"FACEMESH_MAX_BODY_BYTES": str(max(body_limit, 10 * 1024 * 1024))}
    with tempfile.TemporaryDirectory() as log_dir:
        server: LiveServer = start_server(settings, Path(log_dir))
        try:
            run(server.base_url, args.scale, args.clients, args.seconds)
        finally:
            server.stop()
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
