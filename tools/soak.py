"""Memory over time: ``clients`` threads send valid requests to a real gateway for
``duration`` seconds while the server's RSS is sampled; prints the samples and whether RSS
levelled off.

    python -m tools.soak --duration 240 --clients 8

Each client loops over ``/v1/crop`` (one crop), ``/v1/crops`` (four crops) and ``/v1/frame``
(a 500x375 JPEG with three faces) on its own keep-alive connection. Loopback only, bounded by
``duration``. "Levelled off": the mean RSS of the last quarter of the run is within
``--tolerance-mb`` of the mean of the second quarter (the first quarter is warm-up: arenas,
caches and the model's buffers grow to their working size).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import psutil

from tools.servers.gateway import LiveServer, start_server

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA = REPO_ROOT / "tests" / "data"


def _client(server: LiveServer, stop: threading.Event, statuses: Counter[int]) -> None:
    crop = (DATA / "crops" / "lenna_face0.png").read_bytes()
    frame = (DATA / "frames" / "dlib_2008_001322.jpg").read_bytes()
    files = [("image", (f"{i}.png", crop, "image/png")) for i in range(4)]
    with server.new_client() as client:
        while not stop.is_set():
            for response in (
                client.post("/v1/crop", content=crop, headers={"Content-Type": "image/png"}),
                client.post("/v1/crops", files=files),
                client.post("/v1/frame", content=frame, headers={"Content-Type": "image/jpeg"}),
            ):
                statuses[response.status_code] += 1


def soak(server: LiveServer, duration_s: float, clients: int, every_s: float) -> dict[str, object]:
    process = psutil.Process(server.process.pid)
    stop = threading.Event()
    statuses: Counter[int] = Counter()
    threads = [
        threading.Thread(target=_client, args=(server, stop, statuses), daemon=True)
        for _ in range(clients)
    ]
    start = time.monotonic()
    samples: list[tuple[float, float]] = [(0.0, process.memory_info().rss / 2**20)]
    for thread in threads:
        thread.start()
    while time.monotonic() - start < duration_s and server.process.poll() is None:
        time.sleep(every_s)
        if server.process.poll() is not None:
            break
        samples.append((time.monotonic() - start, process.memory_info().rss / 2**20))
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    quarter = max(1, len(samples) // 4)
    second = [rss for _, rss in samples[quarter : 2 * quarter]]
    last = [rss for _, rss in samples[-quarter:]]
    return {
        "duration_s": round(time.monotonic() - start, 1),
        "clients": clients,
        "requests": sum(statuses.values()),
        "statuses": dict(statuses),
        "rss_mb": [[round(t, 1), round(rss, 1)] for t, rss in samples],
        "rss_second_quarter_mean_mb": round(sum(second) / len(second), 1),
        "rss_last_quarter_mean_mb": round(sum(last) / len(last), 1),
        "rss_peak_mb": round(max(rss for _, rss in samples), 1),
        "server_exit_code": server.process.poll(),
        "settings": server.env,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--duration", type=float, default=240.0, help="seconds of load")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--every", type=float, default=5.0, help="RSS sample period, s")
    parser.add_argument("--tolerance-mb", type=float, default=10.0)
    parser.add_argument("--log-dir", type=Path, default=None, help="keep the server log here")
    parser.add_argument(
        "--setting", action="append", default=[], help="FACEMESH_X=value for the server"
    )
    args = parser.parse_args()
    settings = {"FACEMESH_ACCESS_LOG": "false"}
    settings.update(item.split("=", 1) for item in args.setting)
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(settings, args.log_dir or Path(tmp))
        try:
            result = soak(server, args.duration, args.clients, args.every)
        finally:
            server.stop()
        result["server_log"] = str(server.log_path) if args.log_dir else None
        if result["server_exit_code"] is not None:
            result["server_log_tail"] = server.log()[-3000:]
    growth = float(result["rss_last_quarter_mean_mb"]) - float(  # type: ignore[arg-type]
        result["rss_second_quarter_mean_mb"]  # type: ignore[arg-type]
    )
    result["levelled_off"] = growth <= args.tolerance_mb
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
