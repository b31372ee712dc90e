"""The ``landmarker`` pipeline's frame step: MediaPipe Tasks FaceLandmarker's ROI, crop and
projection around its landmark model (``docs/landmarker.md``).

It plugs into ``FramePipeline`` as its ``landmarks`` component, in place of FaceMesh's
``FrameLandmarks``; decode, detector, next ROIs, sessions and pose are shared. What differs:

* ROIs from detections: the box x1.5 about its centre, rotated by the eye keypoints, **not**
  squared (``processing.landmarker.roi_from_detection``); merged with the tracked ROIs as its
  video mode does: a detection that overlaps a tracked ROI replaces it
  (``associate_detections``; the face keeps the tracked ROI's identity).
* The crop: each ROI stretched onto 256x256 (border replicated), one model call for all.
* Back to the frame: ``postprocess.project`` through each ROI's px256 -> frame affine, then
  z times FaceLandmarker's stretch factor (``z_stretch``). Regions have no affines.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from service.contract import LANDMARKER_INPUT_SIZE
from service.pipelines.landmarks import FrameLandmarks, FrameRoi, cut_rois
from service.pipelines.results import FrameFace
from service.processing.decode import Decoded
from service.processing.detection import Detection
from service.processing.landmarker import associate_detections, roi_from_detection, z_stretch
from service.processing.postprocess import project
from service.processing.warp import RotatedRect, crop_to_frame


class LandmarkerLandmarks(FrameLandmarks):
    """FaceLandmarker's landmark model on a frame's ROIs, through its one ``ModelCaller``."""

    def rois(
        self,
        detections: list[Detection],
        tracked: list[RotatedRect],
        width: int,
        height: int,
        max_faces: int,
    ) -> list[FrameRoi]:
        detected = [roi_from_detection(each) for each in detections]
        merged = associate_detections(tracked, detected, width, height)[:max_faces]
        rois = []
        for i, j in merged:
            if j is not None:
                rois.append(FrameRoi(detected[j], detection=detections[j], tracked_from=i))
            elif i is not None:
                rois.append(FrameRoi(tracked[i], tracked_from=i))
        return rois

    def __call__(self, frame: Decoded, rois: list[FrameRoi]) -> list[FrameFace]:
        if not rois:
            return []
        size = LANDMARKER_INPUT_SIZE
        outputs = self.caller.infer_blocking(cut_rois(frame, rois, size))
        results = project(
            outputs,
            np.stack([crop_to_frame(each.roi, size, size) for each in rois]),
            [(frame.width, frame.height)] * len(rois),
            self.score_threshold,
        )
        faces = []
        for result, each in zip(results, rois, strict=True):
            if result.landmarks is None:  # below the threshold (or NaN)
                continue
            landmarks = result.landmarks.copy()
            landmarks[:, 2] *= z_stretch(each.roi, frame.width, frame.height)
            faces.append(
                FrameFace(
                    replace(result, landmarks=landmarks),
                    each.roi,
                    each.detection,
                    tracked_from=each.tracked_from,
                )
            )
        return faces
