"""Times MediaPipe's own FaceLandmarkCpu (attention) subgraph on face crops.

Runs inside the oracle virtualenv (mediapipe==0.10.21, numpy<2), never in the service's.
Protocol on stdin/stdout, one line each, so the caller can interleave MediaPipe rounds with
its own and both see the same machine load: it prints "ready" once loaded; each "round" line
runs every crop once and answers JSON {"wall": [...], "cpu": [...]}: per-crop wall and process
CPU milliseconds (CPU time counts MediaPipe's worker threads too); "quit" ends. Each crop
is processed with a full-image ROI, the way the goldens were made, so the time covers
MediaPipe's ImageToTensor,
TFLite/XNNPACK inference and landmark post-processing for one 192x192 crop.
"""

import argparse
import json
import sys
import time

import cv2
import numpy as np
from google.protobuf import text_format
from mediapipe.framework import calculator_pb2
from mediapipe.framework.formats import rect_pb2
from mediapipe.python.solution_base import SolutionBase

GRAPH = """
input_stream: "image"
input_stream: "roi"
output_stream: "landmarks"
node {
  calculator: "FaceLandmarkCpu"
  input_stream: "IMAGE:image"
  input_stream: "ROI:roi"
  input_side_packet: "WITH_ATTENTION:with_attention"
  output_stream: "LANDMARKS:landmarks"
}
"""


def face_landmark_cpu() -> SolutionBase:
    """MediaPipe's ``FaceLandmarkCpu`` subgraph with attention, fed an image and an ROI (the
    graph the crop oracle and the peer server's ``/crop`` run)."""
    config = text_format.Parse(GRAPH, calculator_pb2.CalculatorGraphConfig())
    return SolutionBase(graph_config=config, side_inputs={"with_attention": True})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("images", nargs="+")
    args = parser.parse_args()
    crops = [
        np.ascontiguousarray(cv2.cvtColor(cv2.imread(p, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB))
        for p in args.images
    ]
    solution = face_landmark_cpu()
    roi = rect_pb2.NormalizedRect(x_center=0.5, y_center=0.5, width=1.0, height=1.0, rotation=0.0)
    for crop in crops[:5]:  # warm-up
        solution.process({"image": crop, "roi": roi})
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() != "round":
            break
        wall, cpu = [], []
        for crop in crops:
            start, start_cpu = time.perf_counter(), time.process_time()
            result = solution.process({"image": crop, "roi": roi})
            wall.append((time.perf_counter() - start) * 1e3)
            cpu.append((time.process_time() - start_cpu) * 1e3)
            if result.landmarks is not None and len(result.landmarks.landmark) != 478:
                raise SystemExit("unexpected landmark count")
        print(json.dumps({"wall": wall, "cpu": cpu}), flush=True)


if __name__ == "__main__":
    main()
