"""Whole frames: decode -> detect -> ROIs -> landmarks -> finish -> pose, one step each.

The same code serves single frames (``POST /v1/frame``, static mode: no state) and video
tracking sessions (a ``TrackState`` carried from frame to frame), exactly as MediaPipe's
``FaceLandmarkFrontCpu`` graph does it:

1. Decode (``frame_decode.FrameDecoder``): whole, or DCT-reduced for a tracked JPEG.
2. Detect (``detectors.Detector``): only while fewer faces are tracked than ``max_faces``
   (``NormalizedRectVectorHasMinSizeCalculator``); its detections (best first, at most
   ``max_faces``) become ROIs.
3. ROIs (``landmarks.frame_rois``): detection ROIs merged with the tracked ROIs
   (``AssociationNormRectCalculator``, IoU > 0.5: the tracked ROI wins), at most ``max_faces``.
4. Landmarks (``landmarks.FrameLandmarks``): every ROI warped to 192x192, one landmark-model
   call for the batch; faces below ``score_threshold`` are dropped; the survivors' landmarks
   give the next frame's ROIs.
   Rotation search (opt-in, not MediaPipe): when the detector ran and step 4 left no face,
   the detector runs once more on the frame turned by 90, 180 and 270 degrees (one call,
   batch of 3), the turn with the best detection wins, and its detections, mapped back to
   the frame, go through steps 3 and 4 again. Their eye keypoints carry the turn into the
   ROI's rotation, so the landmark model sees an upright face cut from the original frame.
5. Finish: a tracking session's face IDs and smoothing (``service.tracking.tracker``).
6. Pose (``measures.with_pose``): head pose, gaze and iris distance.

A frame is one thread hand-off: the header probe (tens of microseconds) runs on the loop,
then steps 1 to 6 run in one Starlette threadpool task; the model calls go through each
model's one ``ModelCaller`` (``service.inference.batcher``, ``infer_blocking``), so they are
micro-batched with every other request's calls of the same model. Each stage is timed into
``facemesh_stage_duration_seconds`` (``frame_decode``, ``detect``, ``landmarks``, ``pose``,
``frame_total``).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from starlette.concurrency import run_in_threadpool

from service import metrics
from service.core.config import Settings
from service.pipelines.blendshapes import (
    Blendshapes,
    require_blendshapes,
    with_frame_blendshapes,
)
from service.pipelines.detectors import Detector, Detectors
from service.pipelines.frame_decode import FrameDecoder
from service.pipelines.landmarks import FrameLandmarks
from service.pipelines.measures import with_pose
from service.pipelines.results import Fields, FrameFace, FrameResult, TrackState
from service.processing.decode import Decoded
from service.processing.detection import Detection
from service.processing.roi import roi_from_landmarks
from service.processing.warp import RotatedRect

Finish = Callable[[FrameResult], FrameResult]


class FramePipeline:
    """Shared by all requests and sessions; the only state is in the ``TrackState`` passed in.

    Its steps are the components it is given (built once in ``service.lifespan``):
    ``decoder`` (with the process's one ``DecodeBudget``), ``detectors`` (every loaded kind,
    each with its ``ModelCaller``) and ``landmarks`` (the landmark model's ``ModelCaller``,
    shared with the default crop pipeline). ``settings`` gives the request defaults
    (``detection_rotation_search``, ``camera_fov_degrees``)."""

    def __init__(
        self,
        settings: Settings,
        *,
        decoder: FrameDecoder,
        detectors: Detectors,
        landmarks: FrameLandmarks,
        blendshapes: Blendshapes | None = None,
    ) -> None:
        self.decoder = decoder
        self.detectors = detectors
        self.landmarks = landmarks
        self.blendshapes = blendshapes
        self._rotation_search = settings.detection_rotation_search
        self._fov_degrees = settings.camera_fov_degrees

    def process(
        self,
        image: np.ndarray | Decoded,
        max_faces: int,
        state: TrackState | None = None,
        rotation_search: bool | None = None,
        detector_kind: str | None = None,
    ) -> FrameResult:
        """Steps 2 to 4 on uint8 [H, W, 3] ``image``, or on a ``Decoded`` frame at its
        decode's scale (blocking). With ``state``, tracked ROIs are used and ``state`` is
        updated for the next frame. ``rotation_search`` (None: the setting) as in the module
        docstring; ``detector_kind`` picks a loaded kind (``short``, ``full``; None: the
        default)."""
        search = self._rotation_search if rotation_search is None else rotation_search
        frame = (
            image if isinstance(image, Decoded) else Decoded(image, image.shape[1], image.shape[0])
        )
        tracked = list(state.rois) if state is not None else []
        detector_ran = len(tracked) < max_faces
        faces: list[FrameFace] = []
        if detector_ran:
            found = self.detectors.pick(detector_kind)
            with metrics.timed("detect"):
                detections = found.detect(frame.pixels, max_faces, (frame.width, frame.height))
            faces = self._landmarks(frame, detections, tracked, max_faces)
            if not faces and search:
                faces = self._turned(found, frame, max_faces)
        else:
            faces = self._landmarks(frame, [], tracked, max_faces)
        if state is not None:
            state.rois = [
                roi_from_landmarks(face.result.landmarks)
                for face in faces
                if face.result.landmarks is not None
            ]
        return FrameResult(frame.width, frame.height, faces, detector_ran)

    def _landmarks(
        self,
        frame: Decoded,
        detections: list[Detection],
        tracked: list[RotatedRect],
        max_faces: int,
    ) -> list[FrameFace]:
        """Steps 3 and 4."""
        rois = self.landmarks.rois(detections, tracked, frame.width, frame.height, max_faces)
        with metrics.timed("landmarks"):
            return self.landmarks(frame, rois)

    def _turned(self, detector: Detector, frame: Decoded, max_faces: int) -> list[FrameFace]:
        """The rotation search; tracked ROIs, if any, were just rejected: only the turned
        detections remain."""
        with metrics.timed("detect"):
            turned = detector.detect_turned(frame.pixels, max_faces, (frame.width, frame.height))
        return self._landmarks(frame, turned, [], max_faces) if turned else []

    def with_pose(
        self,
        frame: FrameResult,
        fov_degrees: float | None = None,
        fields: Fields | None = None,
    ) -> FrameResult:
        """Step 6 (``measures.with_pose``); ``fov_degrees`` None: the setting; ``fields``:
        only what an answer limited to them needs (None: everything)."""
        fov = self._fov_degrees if fov_degrees is None else fov_degrees
        return with_pose(frame, fov, fields)

    async def run(
        self,
        payload: bytes,
        max_faces: int,
        state: TrackState | None = None,
        rotation_search: bool | None = None,
        fov_degrees: float | None = None,
        finish: Finish | None = None,
        detector_kind: str | None = None,
        fields: Fields | None = None,
        blendshapes: bool = False,
    ) -> FrameResult:
        """Every step for one frame's bytes, in one threadpool task; the header probe runs
        on the loop. The decode's estimated size (reduced when ``FrameDecoder.eighths`` says
        so) is held from the decode budget meanwhile. ``fields``: step 6 computes only what
        an answer limited to them shows (None: everything). ``blendshapes``: each face's
        scores from its returned (in sessions: smoothed) landmarks, after ``finish``."""
        start = time.perf_counter()
        scorer = require_blendshapes(self.blendshapes) if blendshapes else None
        budget = self.decoder.budget
        header = budget.probe(payload)
        eighths = self.decoder.eighths(header, state, max_faces)
        async with budget.images([header.cost(eighths)]):

            def work() -> FrameResult:
                with metrics.timed("frame_decode"):
                    decoded = self.decoder.decode(payload, header, eighths)
                frame = self.process(decoded, max_faces, state, rotation_search, detector_kind)
                decoded_bytes = decoded.pixels.nbytes
                del decoded
                budget.release_large(decoded_bytes)
                if finish is not None:
                    frame = finish(frame)
                if scorer is not None:
                    frame = with_frame_blendshapes(frame, scorer)
                with metrics.timed("pose"):
                    return self.with_pose(frame, fov_degrees, fields)

            result = await run_in_threadpool(work)
        metrics.STAGE_SECONDS.labels(stage="frame_total").observe(time.perf_counter() - start)
        return result
