"""A frame's ROIs and its one landmark-model call.

``frame_rois`` merges this frame's detections with the ROIs tracked from the previous frame
(``AssociationNormRectCalculator``: IoU > 0.5, the tracked ROI wins), at most ``max_faces``;
each ROI remembers where it came from. ``FrameLandmarks`` warps every ROI to 192x192, runs
the batch through the landmark model once and keeps the faces whose score reaches the
threshold (MediaPipe emits no landmarks for the others), in frame pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service.contract import MODEL_INPUT_SIZE, ModelOutputs
from service.inference.batcher import ModelCaller
from service.pipelines.results import FrameFace
from service.processing.decode import Decoded
from service.processing.detection import Detection
from service.processing.postprocess import project
from service.processing.roi import associate, roi_from_detection, roi_to_frame
from service.processing.warp import RotatedRect, warp_matrix, warp_through


@dataclass(frozen=True)
class FrameRoi:
    """One ROI (frame pixels) and its source: the detection behind it, or the index in
    ``TrackState.rois`` of the tracked ROI it is."""

    roi: RotatedRect
    detection: Detection | None = None
    tracked_from: int | None = None


def frame_rois(
    detections: list[Detection],
    tracked: list[RotatedRect],
    width: int,
    height: int,
    max_faces: int,
) -> list[FrameRoi]:
    """The ROIs of a ``width`` x ``height`` frame: ``detections`` merged with ``tracked``."""
    detected = [FrameRoi(roi_from_detection(d), detection=d) for d in detections]
    followed = [FrameRoi(roi, tracked_from=i) for i, roi in enumerate(tracked)]
    sources = detected + followed
    # associate() merges (rect, tag) pairs; the tag is the ROI's index in ``sources``.
    groups = [
        [(each.roi, i) for i, each in enumerate(detected)],
        [(each.roi, len(detected) + i) for i, each in enumerate(followed)],
    ]
    kept = associate(groups, width, height)[:max_faces]
    return [sources[tag] for _, tag in kept]


def cut_rois(frame: Decoded, rois: list[FrameRoi], size: int) -> np.ndarray:
    """uint8 [len(rois), size, size, 3]: each ROI (frame pixels) warped out of
    ``frame.pixels`` at the decode's scale, edges replicated."""
    # Frame pixels -> decoded pixels: pixel edges scale by exactly n/8 (libjpeg).
    to_frame = np.diag([8 / frame.eighths, 8 / frame.eighths, 1.0])
    return np.stack(
        [
            warp_through(
                frame.pixels, warp_matrix(each.roi, size, size) @ to_frame, size, size, "replicate"
            )
            for each in rois
        ]
    )


class FrameLandmarks:
    """The landmark model on a frame's ROIs, through the model's one ``ModelCaller``;
    ``score_threshold``: ``Settings.score_threshold``."""

    def __init__(self, caller: ModelCaller[ModelOutputs], score_threshold: float) -> None:
        self.caller = caller
        self.score_threshold = score_threshold

    def rois(
        self,
        detections: list[Detection],
        tracked: list[RotatedRect],
        width: int,
        height: int,
        max_faces: int,
    ) -> list[FrameRoi]:
        """This pipeline's ROIs of a frame (FaceMesh's rule: ``frame_rois``)."""
        return frame_rois(detections, tracked, width, height, max_faces)

    def __call__(self, frame: Decoded, rois: list[FrameRoi]) -> list[FrameFace]:
        """The faces of ``rois`` whose score reaches the threshold (blocking). Each ROI (frame
        pixels) is cut from ``frame.pixels`` at the decode's scale; results come back in
        frame pixels."""
        if not rois:
            return []
        outputs = self.caller.infer_blocking(cut_rois(frame, rois, MODEL_INPUT_SIZE))
        results = project(
            outputs,
            roi_to_frame([each.roi for each in rois]),
            [(frame.width, frame.height)] * len(rois),
            self.score_threshold,
        )
        return [
            FrameFace(result, each.roi, each.detection, tracked_from=each.tracked_from)
            for result, each in zip(results, rois, strict=True)
            if result.landmarks is not None  # below the threshold (or NaN)
        ]
