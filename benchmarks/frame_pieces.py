"""Where a still frame's CPU goes: each piece of ``/v1/frame``'s work timed alone, in process.

    .venv/bin/python -m benchmarks.frame_pieces [--rounds 10]

The stills of the peer benchmark (``benchmarks/peer.py``: the test photos and resized copies,
112x112 to 2000x1500, 1-3 faces) go through the frame pipeline's steps one at a time, each
step's process CPU time summed over every frame and round: decode, the detector's letterbox,
the detector model, its decoding and NMS, the ROI warps, the landmark model, the projection
back to frame pixels, head pose with gaze and iris distance, and the JSON body. The models run
directly on their runtimes (no micro-batcher, one thread), so the sum is the work a frame
needs, without the HTTP and thread hand-offs around it (the peer benchmark's server CPU per
frame minus this sum is that part). Prints ms per frame; writes
``benchmarks/reports/frame_pieces.json``. Discussed in ``docs/performance.md``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from benchmarks.harness import REPORTS, QuietCheck, write_report
from benchmarks.peer import stills
from service.core.config import Settings
from service.encoders.json_body import encode, frame_body
from service.inference.detector import EmbeddedDetector
from service.inference.embedded import EmbeddedBackend
from service.inference.runtime import RuntimeOptions
from service.lifespan import standalone_frame_pipeline
from service.pipelines.results import FrameFace, FrameResult
from service.processing.detection import letterbox, postprocess_detections
from service.processing.postprocess import project
from service.processing.roi import associate, roi_from_detection, roi_to_frame
from service.processing.warp import warp_matrix, warp_through
from tools.oracle.oracle_env import REPO

MODELS = REPO / "model_repository"
REPORT = REPORTS / "frame_pieces.json"
MODEL_INFO = {"name": "facemesh", "version": "1", "backend": "openvino", "pipeline": "x"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args(argv)
    settings = Settings(device="cpu", openvino_eager_compile=True)
    options = RuntimeOptions.from_settings(settings)
    mesh = EmbeddedBackend.open(MODELS / "facemesh/1/model.onnx", options)
    detector = EmbeddedDetector.open(MODELS / "face_detector/1/model.onnx", options)
    inputs = stills()
    spent: dict[str, float] = {}

    @contextmanager
    def clock(piece: str) -> Iterator[None]:
        start = time.process_time()
        yield
        spent[piece] = spent.get(piece, 0.0) + time.process_time() - start

    threshold = settings.detection_score_threshold
    faces = 0
    with standalone_frame_pipeline(mesh, detector, settings) as pipeline, QuietCheck() as quiet:
        for _ in range(args.rounds):
            for still in inputs:
                with clock("decode"):
                    frame = pipeline.decoder.decode(still.body)
                pixels, width, height = frame.pixels, frame.width, frame.height
                with clock("detector letterbox"):
                    square = letterbox(pixels, 128)[None]
                with clock("detector model"):
                    regressors, scores = detector.detect(square)
                with clock("detector decoding + NMS"):
                    found = postprocess_detections(
                        regressors[0], scores[0], width, height, threshold
                    )
                tagged = [(roi_from_detection(each), i) for i, each in enumerate(found)]
                rois = [roi for roi, _ in associate([tagged, []], width, height)][:16]
                if not rois:
                    continue
                with clock("ROI warps"):
                    crops = np.stack(
                        [
                            warp_through(pixels, warp_matrix(r, 192, 192), 192, 192, "replicate")
                            for r in rois
                        ]
                    )
                with clock("landmark model"):
                    outputs = mesh.infer(crops)
                with clock("projection"):
                    results = project(
                        outputs,
                        roi_to_frame(rois),
                        [(width, height)] * len(rois),
                        settings.score_threshold,
                    )
                kept = [
                    FrameFace(result, roi, None)
                    for result, roi in zip(results, rois, strict=True)
                    if result.landmarks is not None
                ]
                with clock("pose + gaze + iris distance"):
                    posed = pipeline.with_pose(FrameResult(width, height, kept, True))
                with clock("JSON body"):
                    encode(frame_body(posed, MODEL_INFO))
                faces += len(kept)
    frames = args.rounds * len(inputs)
    per_frame = {piece: 1000 * seconds / frames for piece, seconds in spent.items()}
    print(f"\n{len(inputs)} stills x {args.rounds} rounds, {faces / frames:.2f} faces per frame")
    for piece, ms in per_frame.items():
        print(f"  {piece:28s} {ms:6.3f} ms CPU per frame")
    print(f"  {'sum':28s} {sum(per_frame.values()):6.3f}")
    write_report(
        REPORT,
        {"faces_per_frame": faces / frames, "ms_cpu_per_frame": per_frame},
        quiet,
    )


if __name__ == "__main__":
    main()
