"""What a DCT-scaled decode of a still photo would cost in accuracy (no timings).

    .venv/bin/python -m benchmarks.reduced_decode

Issue 19 asked whether stills (``POST /v1/frame``, no tracked ROIs) could be decoded at 1/2
or 1/4 of their size and still give MediaPipe's landmarks. For each photo of the peer
benchmark's stills set (``benchmarks/peer.py``: the test frames and resized copies up to
2000x1500), the frame pipeline runs on the whole decode and on the 4/8 and 2/8 decodes; the
landmarks of each face are compared (mean absolute x, y difference, in % of the face's
landmark box), beside the smallest ROI side the reduced decode leaves (the landmark model
wants 192 px). Each face is paired with the reduced decode's face nearest to it; a photo whose face
count changes is reported as such. Prints a table; writes
``benchmarks/reports/reduced_decode.json``. Figures and the decision: ``docs/performance.md``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks.harness import REPORTS, write_report
from benchmarks.peer import stills
from service.core.config import Settings
from service.inference.detector import EmbeddedDetector
from service.inference.embedded import EmbeddedBackend
from service.inference.runtime import RuntimeOptions
from service.lifespan import standalone_frame_pipeline
from service.pipelines.results import FrameResult
from tools.oracle.oracle_env import REPO

MODELS = REPO / "model_repository"
REPORT = REPORTS / "reduced_decode.json"
SCALES = (4, 2)  # eighths


def _compare(full: FrameResult, reduced: FrameResult, eighths: int) -> dict[str, Any]:
    if len(full.faces) != len(reduced.faces):
        return {"faces": len(full.faces), "faces_reduced": len(reduced.faces)}
    errors, sides = [], []
    centres = [face.result.landmarks[:, :2].mean(axis=0) for face in reduced.faces]  # type: ignore[union-attr]
    for whole in full.faces:
        assert whole.result.landmarks is not None
        a = whole.result.landmarks[:, :2]
        nearest = int(np.argmin([np.linalg.norm(c - a.mean(axis=0)) for c in centres]))
        b = reduced.faces[nearest].result.landmarks[:, :2]  # type: ignore[index]
        errors.append(float(np.abs(a - b).mean() / np.ptp(a, axis=0).mean() * 100))
        sides.append(min(whole.roi.width, whole.roi.height) * eighths / 8)
    return {
        "faces": len(errors),
        "worst_error_pct_of_face": max(errors),
        "smallest_roi_px_reduced": min(sides),
    }


def main() -> None:
    settings = Settings(device="cpu")
    options = RuntimeOptions.from_settings(settings)
    mesh = EmbeddedBackend.open(MODELS / "facemesh/1/model.onnx", options)
    detector = EmbeddedDetector.open(MODELS / "face_detector/1/model.onnx", options)
    rows = []
    with standalone_frame_pipeline(mesh, detector, settings) as pipeline:
        for still in stills():
            header = pipeline.decoder.budget.probe(still.body)
            full = pipeline.process(pipeline.decoder.decode(still.body, header), 16)
            for eighths in SCALES:
                reduced = pipeline.process(pipeline.decoder.decode(still.body, header, eighths), 16)
                row = {
                    "image": still.name,
                    "size": [full.width, full.height],
                    "eighths": eighths,
                    **_compare(full, reduced, eighths),
                }
                rows.append(row)
                error = row.get("worst_error_pct_of_face")
                print(
                    f"{still.name:26s} {full.width:5d}x{full.height:<5d} {eighths}/8  "
                    + (
                        f"faces {row['faces']}: worst {error:.2f}% of the face, smallest ROI "
                        f"{row['smallest_roi_px_reduced']:.0f} px"
                        if error is not None
                        else f"face count {row['faces']} -> {row['faces_reduced']}"
                    )
                )
    write_report(REPORT, {"rows": rows}, None)


if __name__ == "__main__":
    main()
