"""Times MediaPipe's FaceMesh solution (refine_landmarks=True) on whole frames.

Runs inside the oracle virtualenv (mediapipe==0.10.21, numpy<2), never in the service's;
driven by ``benchmarks/frames.py``. Arguments: a JSON file ``{"sets": {name: [png, ...]},
"max_faces": {name: n}}``. Protocol on stdin/stdout, one line each, so the caller can
interleave MediaPipe's rounds with its own under the same machine load: prints "ready" once
loaded; each "<mode> <set>" line (mode ``static`` or ``tracking``) runs every frame of the set
once, in order, and answers JSON {"wall": [...], "cpu": [...], "faces": [...]}: per-frame wall
and process CPU milliseconds (CPU time counts MediaPipe's worker threads too) and faces
found; "quit" ends.

``static`` is ``FaceMesh(static_image_mode=True)``: the detector runs on every frame.
``tracking`` is ``FaceMesh(static_image_mode=False)``: the ROI comes from the previous frame's
landmarks and the detector runs only when a face is lost; the graph is reset before each
round (outside the timing), so every round starts from nothing, as a new video would.
"""

import argparse
import json
import sys
import time

import cv2
import numpy as np
from mediapipe.python.solutions.face_mesh import FaceMesh


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("spec")
    args = parser.parse_args()
    with open(args.spec) as handle:
        spec = json.load(handle)
    sets = {
        name: [
            np.ascontiguousarray(cv2.cvtColor(cv2.imread(p, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB))
            for p in paths
        ]
        for name, paths in spec["sets"].items()
    }
    meshes = {
        (mode, name): FaceMesh(
            static_image_mode=mode == "static",
            max_num_faces=int(spec["max_faces"][name]),
            refine_landmarks=True,
            min_detection_confidence=0.5,
            min_tracking_confidence=0.5,
        )
        for mode in ("static", "tracking")
        for name in sets
    }
    for (_, name), mesh in meshes.items():  # warm-up
        for frame in sets[name][:3]:
            mesh.process(frame)
    print("ready", flush=True)
    for line in sys.stdin:
        words = line.split()
        if len(words) != 2:
            break
        mode, name = words
        mesh = meshes[(mode, name)]
        if mode == "tracking":
            mesh.reset()
        wall, cpu, faces = [], [], []
        for frame in sets[name]:
            start, start_cpu = time.perf_counter(), time.process_time()
            result = mesh.process(frame)
            wall.append((time.perf_counter() - start) * 1e3)
            cpu.append((time.process_time() - start_cpu) * 1e3)
            found = result.multi_face_landmarks or []
            if any(len(face.landmark) != 478 for face in found):
                raise SystemExit("unexpected landmark count (refine_landmarks gives 478)")
            faces.append(len(found))
        print(json.dumps({"wall": wall, "cpu": cpu, "faces": faces}), flush=True)
    for mesh in meshes.values():
        mesh.close()


if __name__ == "__main__":
    main()
