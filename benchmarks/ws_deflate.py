"""What WebSocket permessage-deflate costs the server per tracked video frame, in process.

    .venv/bin/python -m benchmarks.ws_deflate [--frames 60]

Browsers offer permessage-deflate on every WebSocket, and with it on (uvicorn's extension:
12-bit windows, memLevel 5, context takeover) the server inflates each frame the client
compressed (a JPEG: it barely shrinks) and deflates each answer. This script runs the frames
of the peer benchmark's 720p clip (``benchmarks/peer.py``) through the real frame pipeline,
as a tracking session, and times, with the process's CPU clock, the websockets library's own
permessage-deflate encoder and decoder (the code uvicorn runs) on exactly those messages: the
JPEG frames as a client sends them, and our answers as JSON, JSON limited to
``?fields=landmarks`` and protobuf. Prints ms CPU per frame and bytes per message, compressed
and not; writes ``benchmarks/reports/ws_deflate.json``. Compare the ms with the server's whole
CPU per tracked frame (``benchmarks/peer.py``, video).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.frames import Frame, Opcode

from benchmarks.harness import REPORTS, QuietCheck, write_report
from benchmarks.peer import clip
from service.api.responses import frame_protobuf
from service.core.config import Settings
from service.encoders.json_body import encode, frame_body
from service.inference.detector import EmbeddedDetector
from service.inference.embedded import EmbeddedBackend
from service.inference.runtime import RuntimeOptions
from service.lifespan import standalone_frame_pipeline
from service.pipelines.results import TrackState
from tools.oracle.oracle_env import REPO

MODELS = REPO / "model_repository"
REPORT = REPORTS / "ws_deflate.json"
MODEL_INFO = {"name": "facemesh", "version": "1", "backend": "openvino", "pipeline": "attention"}


def extension() -> PerMessageDeflate:
    """One side of a connection as uvicorn negotiates it (12-bit windows, memLevel 5)."""
    return PerMessageDeflate(False, False, 12, 12, {"memLevel": 5})


def cpu_ms(messages: list[bytes], opcode: Opcode, work: Callable[..., Frame]) -> float:
    start = time.process_time()
    for data in messages:
        work(Frame(opcode, data))
    return 1000 * (time.process_time() - start) / len(messages)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60)
    args = parser.parse_args(argv)
    frames_in = [each.body for each in clip(args.frames)]
    settings = Settings(device="cpu")
    options = RuntimeOptions.from_settings(settings)
    mesh = EmbeddedBackend.open(MODELS / "facemesh/1/model.onnx", options)
    detector = EmbeddedDetector.open(MODELS / "face_detector/1/model.onnx", options)
    answers: dict[str, list[bytes]] = {"json": [], "json fields=landmarks": [], "protobuf": []}
    state = TrackState()
    with standalone_frame_pipeline(mesh, detector, settings) as pipeline:
        for index, body in enumerate(frames_in):
            decoded = pipeline.decoder.decode(body)
            result = pipeline.with_pose(pipeline.process(decoded, 1, state))
            answers["json"].append(encode(frame_body(result, MODEL_INFO)))
            limited = frozenset({"landmarks"})
            answers["json fields=landmarks"].append(encode(frame_body(result, MODEL_INFO, limited)))
            answers["protobuf"].append(frame_protobuf(result, index))
    report: dict[str, dict[str, float]] = {}
    with QuietCheck() as quiet:
        # The client's side compresses the frames once (not timed); the server inflates them.
        client = extension()
        sent = [client.encode(Frame(Opcode.BINARY, body)).data for body in frames_in]
        server = extension()
        inflate = cpu_ms(sent, Opcode.BINARY, lambda f: server.decode(replace_rsv1(f)))
        report["frame in (JPEG), inflate"] = {
            "ms_cpu_per_frame": inflate,
            "bytes": sum(map(len, frames_in)) / len(frames_in),
            "bytes_compressed": sum(map(len, sent)) / len(sent),
        }
        for name, messages in answers.items():
            server = extension()
            opcode = Opcode.BINARY if name == "protobuf" else Opcode.TEXT
            deflate = cpu_ms(messages, opcode, server.encode)
            sizes = [len(extension().encode(Frame(opcode, data)).data) for data in messages[:5]]
            report[f"answer ({name}), deflate"] = {
                "ms_cpu_per_frame": deflate,
                "bytes": sum(map(len, messages)) / len(messages),
                "bytes_compressed_first_5": sum(sizes) / len(sizes),
            }
    for name, row in report.items():
        figures = ", ".join(f"{key} {value:,.2f}" for key, value in row.items())
        print(f"  {name:40s} {figures}")
    write_report(REPORT, {"frames": len(frames_in), "pieces": report}, quiet)


def replace_rsv1(frame: Frame) -> Frame:
    """A received compressed frame carries RSV1; ``Frame`` built from data does not."""
    return Frame(frame.opcode, frame.data, frame.fin, rsv1=True)


if __name__ == "__main__":
    main()
