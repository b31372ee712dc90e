"""Our gateway against the peer (MediaPipe FaceMesh behind FastAPI), side by side in one run.

    .venv/bin/python -m benchmarks.peer [--seconds 10] [--rounds 3] [--only LOAD ...]
        [--gateway-setting FACEMESH_NAME=value ...] [--peer-crop-graph landmark|facemesh]
        [--ws-compression deflate|none] [--report PATH]

The peer is ``tools/oracle/peer_server.py`` (the wrapper a user would write in an afternoon,
run by the oracle virtualenv's Python, created under ``.cache/`` on first use); our gateway is
``python -m service`` with default settings but for ``FACEMESH_OPENVINO_EAGER_COMPILE=true`` (no
bucket compiled inside a measured round; ``--gateway-setting`` to try variants). Both get
the same closed-loop clients, each sending its next input as soon as the last is answered:

- ``stills``: photos over HTTP (``POST /v1/frame`` vs ``/frame``), 8 clients. The photos of
  ``tests/data/frames`` that have 1-3 faces, plus copies resized (OpenCV, JPEG quality 90) to
  112 px and to 1-2k px, so sizes run from 112x112 to 2000x1500;
- ``video``: a 720p JPEG clip over WebSocket (``/v1/track`` vs ``/track``), 4 sessions, each
  starting at its own place in the clip and looping it. The clip is made here, deterministic:
  ``grace_hopper.jpg`` on a textured 1280x720 canvas (the face 220-280 px wide, as from a
  webcam at arm's length), moving and scaling slowly along a closed path (the loop has no
  jump), JPEG quality 90. The client offers permessage-deflate, as
  browsers do (``--ws-compression none`` to compare);
- ``crops``: the 192x192 PNG crops of ``tests/data/crops`` that have a MediaPipe golden (a
  face), over HTTP (``POST /v1/crop`` vs ``/crop``), 16 clients.
- ``stills-1``, ``video-1``: the same with one client (one session): the latency targets;
- ``stills-protobuf``, ``video-protobuf``, ``stills-fields``, ``video-fields``: the stills and
  video loads with our answers binary (``Accept: application/x-protobuf``, subprotocol
  ``facemesh.v1.protobuf``) or limited to ``?fields=landmarks``; the peer answers its plain
  JSON every time. No targets: they are printed beside the JSON figures.

Every load runs by default (``--only`` picks some), so one command prints every figure of the
targets: frames/s and server CPU per frame at 8 stills clients and 4 video sessions, the
one-client p50 latency on stills and video, and /v1/crop's server CPU per crop against
MediaPipe's graph in process.

Per load: a warm-up for each server (every input once, then a second of load), then
``--rounds`` interleaved rounds of ``--seconds`` each, the order rotated every round. Per
round: answers, latencies, wall time and the server's CPU time from ``/proc/<pid>/stat`` (user
+ system of the server process and its children). Every answer's body is checked: the face
count must be the input's (from ``tests/data/frames_goldens.json`` for the photos, one face for
the clip and the crops) and every face must have 478 landmarks; anything else is an error, not
an answer. MediaPipe's ``FaceLandmarkCpu`` in process (``tools/oracle/mediapipe_worker.py``,
as ``benchmarks/crop_e2e.py`` uses it) runs once over the crops before each crops round, for
the server-CPU-per-crop ratio against the bare graph.

Prints a table with ours/peer ratios of frames/s, CPU per frame and p50 latency, each load's
target, and the load average before
and after; writes ``benchmarks/reports/peer.json``. On a shared machine absolute figures move
with the load; the ratios are measured side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import orjson
from google.protobuf.message import DecodeError
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from benchmarks.harness import (
    REPO,
    REPORTS,
    QuietCheck,
    interleaved,
    latency_summary,
    process_tree_cpu_s,
    write_report,
)
from service.tracking import tracking_pb2
from tools.oracle.oracle_env import WORKERS, OracleWorker, oracle_python
from tools.servers.gateway import LiveServer, free_port, start_server

DATA = REPO / "tests" / "data"
FRAMES = DATA / "frames"
REPORT = REPORTS / "peer.json"
LANDMARKS = 478
JPEG_QUALITY = 90
# (photo, scale): scale 1 sends the file as it is (PNGs re-encoded as JPEG).
STILLS = (
    ("lenna.png", 112 / 512),
    ("takeo.png", 0.75),
    ("takeo.png", 1.0),
    ("dlib_2008_001009.jpg", 1.0),
    ("dlib_2008_001322.jpg", 1.0),
    ("dlib_2008_002079.jpg", 1.0),
    ("dlib_2008_002506.jpg", 1.0),
    ("dlib_2009_004587.jpg", 1.0),
    ("grace_hopper.jpg", 1.0),
    ("lenna.png", 1.0),
    ("dlib_2009_004587.jpg", 2.5),
    ("grace_hopper.jpg", 3.2),
    ("dlib_2008_002506.jpg", 3.84),
    ("dlib_2008_001322.jpg", 4.0),
)
# The targets, ours / peer: (frames/s at least, server CPU per frame at most, p50 latency at
# most); None: no target. The variants (binary answers, fields) are printed beside them.
TARGETS: dict[str, tuple[float | None, float | None, float | None]] = {
    "stills": (1.2, 0.85, None),
    "video": (1.3, 0.8, None),
    "crops": (None, None, None),  # its target is CPU per crop against MediaPipe in process
    "stills-1": (None, None, 0.9),
    "video-1": (None, None, 0.9),
}
LOAD_NAMES = (*TARGETS, "stills-protobuf", "stills-fields", "video-protobuf", "video-fields")
PROTOBUF = "application/x-protobuf"
PROTOBUF_SUBPROTOCOL = "facemesh.v1.protobuf"
# /v1/crop server CPU per crop at most this times MediaPipe's FaceLandmarkCpu in process.
CROP_CPU_TARGET = 1.3
CLIP_SIZE = (1280, 720)
CLIP_PHOTO = "grace_hopper.jpg"
CLIP_FACE_CENTRE = (264, 233)  # in the photo: the centre of MediaPipe's landmarks (goldens)


@dataclass(frozen=True)
class Input:
    name: str
    body: bytes
    faces: int  # the face count a right answer has


@dataclass(frozen=True)
class Load:
    name: str
    clients: int
    transport: str  # "http" or "websocket"
    ours: str  # our path
    peer: str  # the peer's path
    media_type: str
    inputs: list[Input]
    description: str
    # Ours only (the peer gets the plain request): the binary answer, and a query string.
    binary: bool = False
    query: str = ""


@dataclass
class Window:
    """One measured window against one server."""

    answers: int
    errors: int
    wall_s: float
    cpu_s: float
    client_cpu_s: float  # this process's: the clients' share of the machine
    latencies_s: list[float]
    first_error: str | None


def encode_jpeg(rgb: np.ndarray) -> bytes:
    ok, data = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
    )
    assert ok
    return bytes(data.tobytes())


def image_size(body: bytes) -> tuple[int, int]:
    """(width, height) of an encoded image."""
    gray = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert gray is not None
    return gray.shape[1], gray.shape[0]


def read_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert bgr is not None, path
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def stills() -> list[Input]:
    """The photos, at the sizes of ``STILLS``, with their MediaPipe face counts."""
    goldens = json.loads((DATA / "frames_goldens.json").read_text())
    faces = {entry["file"]: len(entry["faces"]) for entry in goldens}
    inputs = []
    for name, scale in STILLS:
        path = FRAMES / name
        if scale == 1.0 and path.suffix == ".jpg":
            body = path.read_bytes()
        else:
            rgb = read_rgb(path)
            size = (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale))
            interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
            body = encode_jpeg(cv2.resize(rgb, size, interpolation=interpolation))
        inputs.append(Input(f"{path.stem}@{scale:g}", body, faces[name]))
    return inputs


def clip(frames: int) -> list[Input]:
    """``CLIP_PHOTO`` moving and scaling slowly on a 1280x720 canvas, one closed loop: the
    face (about 180x200 px in the photo) 220-280 px wide, its centre on an ellipse 500 px
    across, at most about 10 px a frame at 150 frames."""
    width, height = CLIP_SIZE
    rng = np.random.default_rng(19)
    texture = cv2.resize(rng.uniform(40, 200, (9, 16, 3)), CLIP_SIZE, interpolation=cv2.INTER_CUBIC)
    ramp = np.linspace(-30, 30, width)[None, :, None]
    canvas = np.clip(texture + ramp, 0, 255).astype(np.uint8)
    photo = read_rgb(FRAMES / CLIP_PHOTO)
    inputs = []
    for index in range(frames):
        phase = 2 * np.pi * index / frames
        scale = 1.3 + 0.1 * np.sin(phase)
        centre = np.array([width / 2 + 250 * np.sin(phase), height / 2 + 30 * np.cos(phase)])
        shift = centre - scale * np.array(CLIP_FACE_CENTRE)
        matrix = np.array([[scale, 0, shift[0]], [0, scale, shift[1]]])
        frame = canvas.copy()
        cv2.warpAffine(photo, matrix, CLIP_SIZE, dst=frame, borderMode=cv2.BORDER_TRANSPARENT)
        inputs.append(Input(f"clip_{index:04d}", encode_jpeg(frame), 1))
    return inputs


def crops() -> list[Input]:
    """The crops MediaPipe's attention model finds a face in (those with a golden)."""
    goldens = json.loads((DATA / "crops_goldens.json").read_text())
    with_face = {Path(entry["file"]).name for entry in goldens}
    paths = sorted(p for p in (DATA / "crops").glob("*.png") if p.name in with_face)
    return [Input(p.stem, p.read_bytes(), 1) for p in paths]


def loads(clip_frames: int) -> dict[str, Load]:
    """Every load: the targets' (stills 8 clients, video 4 sessions, crops 16 clients, one
    client on stills and on video) and ours with binary answers or ``?fields=landmarks``
    beside the plain JSON ones (the peer answers JSON every time)."""
    base = target_loads(clip_frames)
    stills_load, video_load = base["stills"], base["video"]
    variants = {
        "stills-1": replace(stills_load, name="stills-1", clients=1),
        "video-1": replace(video_load, name="video-1", clients=1),
        "stills-protobuf": replace(stills_load, name="stills-protobuf", binary=True),
        "stills-fields": replace(stills_load, name="stills-fields", query="?fields=landmarks"),
        "video-protobuf": replace(video_load, name="video-protobuf", binary=True),
        "video-fields": replace(video_load, name="video-fields", query="?fields=landmarks"),
    }
    return base | variants


def target_loads(clip_frames: int) -> dict[str, Load]:
    photos = stills()
    video = clip(clip_frames)
    faces = crops()
    sizes = sorted((image_size(i.body) for i in photos), key=lambda size: size[0] * size[1])
    return {
        "stills": Load(
            "stills",
            8,
            "http",
            "/v1/frame",
            "/frame",
            "image/jpeg",
            photos,
            f"{len(photos)} JPEG photos, {sizes[0][0]}x{sizes[0][1]} to "
            f"{sizes[-1][0]}x{sizes[-1][1]}, 1-3 faces",
        ),
        "video": Load(
            "video",
            4,
            "websocket",
            "/v1/track",
            "/track",
            "image/jpeg",
            video,
            f"{len(video)}-frame 1280x720 JPEG clip (quality {JPEG_QUALITY}), 1 face",
        ),
        "crops": Load(
            "crops",
            16,
            "http",
            "/v1/crop",
            "/crop",
            "image/png",
            faces,
            f"{len(faces)} PNG face crops 192x192",
        ),
    }


def faces_in(body: bytes, binary: bool = False) -> int:
    """Faces with landmarks in an answer (JSON, or a protobuf ``FrameResult`` when
    ``binary``); -1 for a body that is not a right answer (an error body, a face without 478
    points of x, y, z)."""
    if binary:
        try:
            message = tracking_pb2.FrameResult.FromString(body)
        except DecodeError:
            return -1
        with_points = [face for face in message.faces if face.landmarks]
        if any(len(face.landmarks) != 3 * LANDMARKS for face in with_points):
            return -1
        return len(with_points)
    try:
        faces = [face for face in orjson.loads(body)["faces"] if face["landmarks"] is not None]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return -1
    for face in faces:
        points = face["landmarks"]
        if len(points) != LANDMARKS or any(len(point) != 3 for point in points):
            return -1
    return len(faces)


class Tally:
    """Answers, errors and latencies of the clients of one window, while it is measured."""

    def __init__(self, binary: bool = False) -> None:
        self.binary = binary
        self.measuring = False
        self.answers = 0
        self.errors = 0
        self.latencies: list[float] = []
        self.first_error: str | None = None

    def add(self, start: float, expected: int, status: int, body: bytes) -> None:
        if not self.measuring:
            return
        found = faces_in(body, self.binary) if status == 200 else -1
        if found == expected:
            self.answers += 1
            self.latencies.append(time.perf_counter() - start)
            return
        self.errors += 1
        if self.first_error is None:
            self.first_error = f"status {status}, {found} faces (want {expected}): {body[:200]!r}"


ClientLoop = Callable[[Tally, Callable[[], bool]], Awaitable[None]]


async def measured(
    pid: int, clients: Sequence[ClientLoop], warm_s: float, seconds: float, binary: bool = False
) -> Window:
    """Run ``clients`` for ``warm_s`` unmeasured, then ``seconds`` measured."""
    tally = Tally(binary)
    stop_at = time.perf_counter() + warm_s + seconds

    def running() -> bool:
        return time.perf_counter() < stop_at

    async def measure() -> tuple[float, float, float]:
        await asyncio.sleep(warm_s)
        tally.measuring = True
        return process_tree_cpu_s(pid), time.process_time(), time.perf_counter()

    started = asyncio.create_task(measure())
    await asyncio.gather(*(client(tally, running) for client in clients))
    cpu_before, client_before, wall_before = await started
    return Window(
        tally.answers,
        tally.errors,
        time.perf_counter() - wall_before,
        process_tree_cpu_s(pid) - cpu_before,
        time.process_time() - client_before,
        tally.latencies,
        tally.first_error,
    )


async def http_window(
    server: LiveServer, load: Load, path: str, warm_s: float, seconds: float, ours: bool
) -> Window:
    inputs = load.inputs
    limits = httpx.Limits(max_connections=load.clients, max_keepalive_connections=load.clients)
    headers = {"content-type": load.media_type}
    binary = ours and load.binary
    if binary:
        headers["accept"] = PROTOBUF
    if ours:
        path += load.query
    async with httpx.AsyncClient(base_url=server.base_url, timeout=60.0, limits=limits) as http:

        def client(index: int) -> ClientLoop:
            async def loop(tally: Tally, running: Callable[[], bool]) -> None:
                turn = index
                while running():
                    item = inputs[turn % len(inputs)]
                    turn += load.clients
                    start = time.perf_counter()
                    try:
                        response = await http.post(path, content=item.body, headers=headers)
                    except httpx.HTTPError as exc:
                        tally.add(start, item.faces, 0, repr(exc).encode())
                        continue
                    tally.add(start, item.faces, response.status_code, response.content)

            return loop

        clients = [client(index) for index in range(load.clients)]
        return await measured(server.process.pid, clients, warm_s, seconds, binary)


async def websocket_window(
    server: LiveServer,
    load: Load,
    path: str,
    warm_s: float,
    seconds: float,
    compression: str,
    ours: bool,
) -> Window:
    inputs = load.inputs
    binary = ours and load.binary
    url = server.base_url.replace("http://", "ws://") + path + (load.query if ours else "")
    subprotocols = [PROTOBUF_SUBPROTOCOL] if binary else None

    def session(index: int) -> ClientLoop:
        async def loop(tally: Tally, running: Callable[[], bool]) -> None:
            turn = index * len(inputs) // load.clients  # each session at its own place
            async with connect(
                url,
                compression=None if compression == "none" else "deflate",
                max_size=2**24,
                subprotocols=subprotocols,  # type: ignore[arg-type]
            ) as websocket:
                while running():
                    item = inputs[turn % len(inputs)]
                    turn += 1
                    start = time.perf_counter()
                    try:
                        await websocket.send(item.body)
                        reply = await websocket.recv()
                    except ConnectionClosed as exc:  # the session is over: one error
                        tally.add(start, item.faces, 0, repr(exc).encode())
                        return
                    body = reply.encode() if isinstance(reply, str) else reply
                    tally.add(start, item.faces, 200, body)

        return loop

    clients = [session(index) for index in range(load.clients)]
    return await measured(server.process.pid, clients, warm_s, seconds, binary)


def start_peer(log_dir: Path, crop_graph: str) -> LiveServer:
    """``tools/oracle/peer_server.py`` on a free port, its /healthz awaited."""
    python = oracle_python()
    port = free_port()
    log_path = Path(tempfile.mkstemp(prefix="peer-", suffix=".log", dir=log_dir)[1])
    argv = [str(WORKERS / "peer_server.py"), "--port", str(port), "--crop-graph", crop_graph]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(python), *argv],
            cwd=REPO,
            env={**os.environ, "GLOG_minloglevel": "2"},  # MediaPipe's start-up warnings
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    peer = LiveServer(f"http://127.0.0.1:{port}", {}, process, log_path)
    if peer.wait_ready(path="/healthz"):
        return peer
    log_text = peer.log()
    peer.stop()
    raise RuntimeError(f"the peer did not start:\n{log_text}")


def summary(windows: list[Window]) -> dict[str, Any]:
    """Totals over a contender's rounds: frames/s, server CPU per frame, latencies, errors."""
    answers = sum(w.answers for w in windows)
    wall = sum(w.wall_s for w in windows)
    cpu = sum(w.cpu_s for w in windows)
    latencies = [each for w in windows for each in w.latencies_s]
    row: dict[str, Any] = {
        "answers": answers,
        "errors": sum(w.errors for w in windows),
        "frames_per_s": answers / wall,
        "frames_per_s_per_round": [w.answers / w.wall_s for w in windows],
        "server_cpu_ms_per_frame": cpu * 1e3 / max(answers, 1),
        "server_cpu_cores": cpu / wall,
        "client_cpu_ms_per_frame": sum(w.client_cpu_s for w in windows) * 1e3 / max(answers, 1),
        "first_error": next((w.first_error for w in windows if w.first_error), None),
    }
    return row | (latency_summary(latencies) if latencies else {})


def run_load(
    load: Load,
    servers: dict[str, LiveServer],
    args: argparse.Namespace,
    mediapipe: OracleWorker | None,
) -> dict[str, Any]:
    paths = {"ours": load.ours, "peer": load.peer}

    def window(name: str, warm_s: float, seconds: float) -> Window:
        server, path = servers[name], paths[name]
        ours = name == "ours"
        if load.transport == "websocket":
            return asyncio.run(
                websocket_window(server, load, path, warm_s, seconds, args.ws_compression, ours)
            )
        return asyncio.run(http_window(server, load, path, warm_s, seconds, ours))

    print(f"\n{load.name}: {load.description}; {load.clients} clients", flush=True)
    for name, server in servers.items():  # every input once, then a second of load
        for item in load.inputs:
            if load.transport == "http" and not load.binary and not load.query:
                response = server.client().post(
                    paths[name], content=item.body, headers={"content-type": load.media_type}
                )
                if faces_in(response.content) != item.faces:
                    print(f"  {name} {item.name}: {response.status_code} wrong answer")
        window(name, 0.0, min(1.0, args.seconds))
    mediapipe_cpu: list[float] = []

    def contender(name: str) -> Callable[[], Window]:
        def one_round() -> Window:
            if mediapipe is not None and name == "ours":  # the same load as our round
                mediapipe_cpu.extend(mediapipe.ask("round")["cpu"])
            return window(name, 0.5 if load.transport == "websocket" else 0.0, args.seconds)

        return one_round

    rounds = interleaved(args.rounds, {name: contender(name) for name in servers})
    result: dict[str, Any] = {
        "description": load.description,
        "clients": load.clients,
        "paths": paths,
        **{name: summary(windows) for name, windows in rounds.items()},
    }
    ours, peer = result["ours"], result["peer"]
    speed = ours["frames_per_s"] / max(peer["frames_per_s"], 1e-9)
    cpu = ours["server_cpu_ms_per_frame"] / max(peer["server_cpu_ms_per_frame"], 1e-9)
    p50 = ours.get("p50_ms", float("nan")) / max(peer.get("p50_ms", float("nan")), 1e-9)
    least_speed, most_cpu, most_p50 = TARGETS.get(load.name, (None, None, None))
    result["ours_over_peer"] = {"frames_per_s": speed, "server_cpu_per_frame": cpu, "p50": p50}
    if (least_speed, most_cpu, most_p50) != (None, None, None):
        result["target"] = {
            "frames_per_s_at_least": least_speed,
            "server_cpu_per_frame_at_most": most_cpu,
            "p50_latency_at_most": most_p50,
            "met": (least_speed is None or speed >= least_speed)
            and (most_cpu is None or cpu <= most_cpu)
            and (most_p50 is None or p50 <= most_p50),
        }
    if mediapipe_cpu:
        mean = statistics.fmean(mediapipe_cpu)
        result["mediapipe_in_process"] = {
            "graph": "FaceLandmarkCpu (attention), tools/oracle/mediapipe_worker.py",
            "cpu_ms_per_crop": mean,
            "crops": len(mediapipe_cpu),
            "ours_server_cpu_over_it": ours["server_cpu_ms_per_frame"] / mean,
            "target_at_most": CROP_CPU_TARGET,
        }
    return result


def target_text(result: dict[str, Any]) -> str:
    """The target of a load in words, and whether it was met."""
    target = result.get("target")
    if target is None:
        if "mediapipe_in_process" in result:
            return "(target: CPU per crop against MediaPipe in process, next line)"
        return "(no target: beside the plain JSON figures)"
    parts = []
    if target["frames_per_s_at_least"] is not None:
        parts.append(f"frames/s >= {target['frames_per_s_at_least']:g}x")
    if target["server_cpu_per_frame_at_most"] is not None:
        parts.append(f"CPU <= {target['server_cpu_per_frame_at_most']:g}x")
    if target["p50_latency_at_most"] is not None:
        parts.append(f"p50 <= {target['p50_latency_at_most']:g}x")
    return "target " + ", ".join(parts) + (": met" if target["met"] else ": missed")


def print_table(results: dict[str, dict[str, Any]]) -> None:
    width = max(len(name) for name in results) if results else 8
    print(
        f"\n{'load':<{width}s} {'server':<10s} {'frames/s':>9s} {'CPU ms/frame':>12s} "
        f"{'p50 ms':>8s} {'p99 ms':>8s} {'cores':>5s} {'errors':>6s}"
    )
    for name, result in results.items():
        for who in ("ours", "peer"):
            row = result[who]
            print(
                f"{name:<{width}s} {who:<10s} {row['frames_per_s']:9.1f} "
                f"{row['server_cpu_ms_per_frame']:12.2f} {row.get('p50_ms', 0):8.1f} "
                f"{row.get('p99_ms', 0):8.1f} {row['server_cpu_cores']:5.2f} {row['errors']:6d}"
            )
        ratio = result["ours_over_peer"]
        print(
            f"{name:<{width}s} {'ours/peer':<10s} {ratio['frames_per_s']:8.2f}x "
            f"{ratio['server_cpu_per_frame']:11.2f}x {ratio['p50']:7.2f}x   " + target_text(result)
        )
        if "mediapipe_in_process" in result:
            bare = result["mediapipe_in_process"]
            print(
                f"{name:<{width}s} MediaPipe FaceLandmarkCpu in process: "
                f"{bare['cpu_ms_per_crop']:.2f} ms CPU per crop; our server CPU per crop "
                f"{bare['ours_server_cpu_over_it']:.2f}x it (target <= {CROP_CPU_TARGET:g}x)"
            )
        for who in ("ours", "peer"):
            if result[who]["first_error"]:
                print(f"  {who}'s first error: {result[who]['first_error']}")


def gateway_settings(pairs: list[str]) -> dict[str, str]:
    settings = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        key = key.strip().upper()
        settings[key if key.startswith("FACEMESH_") else f"FACEMESH_{key}"] = value
    return settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per server and load")
    parser.add_argument(
        "--only",
        choices=LOAD_NAMES,
        action="append",
        help="(repeatable; default every load)",
    )
    parser.add_argument(
        "--gateway-setting",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a FACEMESH_* setting for our gateway (repeatable; default settings otherwise)",
    )
    parser.add_argument("--peer-crop-graph", choices=("landmark", "facemesh"), default="landmark")
    parser.add_argument("--ws-compression", choices=("deflate", "none"), default="deflate")
    parser.add_argument("--clip-frames", type=int, default=150, help="frames in the 720p clip")
    parser.add_argument("--report", type=Path, default=REPORT, help="JSON report path")
    args = parser.parse_args(argv)
    settings = gateway_settings(args.gateway_setting)
    # Defaults, but every OpenVINO bucket compiled at start-up: a bucket compiled on first use
    # inside a measured round would cost seconds there (as in benchmarks/crop_e2e.py).
    settings.setdefault("FACEMESH_OPENVINO_EAGER_COMPILE", "true")
    every = loads(args.clip_frames)
    chosen = {name: every[name] for name in every if name in (args.only or every)}

    quiet = QuietCheck().start()
    print(f"gateway settings: {settings or 'defaults'}; peer crop graph: {args.peer_crop_graph}")
    print(f"{args.rounds} rounds of {args.seconds:g} s per server and load")
    results: dict[str, dict[str, Any]] = {}
    mediapipe = None
    if "crops" in chosen:
        crop_paths = [str(DATA / "crops" / f"{item.name}.png") for item in chosen["crops"].inputs]
        mediapipe = OracleWorker([str(WORKERS / "mediapipe_worker.py"), *crop_paths])
    with tempfile.TemporaryDirectory() as log_dir:
        servers: dict[str, LiveServer] = {}
        try:
            servers["ours"] = start_server(settings, Path(log_dir))
            servers["peer"] = start_peer(Path(log_dir), args.peer_crop_graph)
            for name, load in chosen.items():
                results[name] = run_load(
                    load, servers, args, mediapipe if name == "crops" else None
                )
        finally:
            for server in servers.values():
                server.stop()
            if mediapipe is not None:
                mediapipe.close()
    quiet.stop()
    print_table(results)
    write_report(
        args.report,
        {
            "gateway_settings": settings,
            "peer": {
                "server": "tools/oracle/peer_server.py",
                "crop_graph": args.peer_crop_graph,
            },
            "ws_compression": args.ws_compression,
            "seconds_per_round": args.seconds,
            "rounds": args.rounds,
            "loads": results,
        },
        quiet,
    )


if __name__ == "__main__":
    main()
