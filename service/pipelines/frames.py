"""Whole frames: detector -> ROIs -> one landmark-model call for every face -> frame pixels.

The same code serves single frames (``POST /v1/frame``, static mode: no state) and video
tracking sessions (a ``TrackState`` carried from frame to frame), exactly as MediaPipe's
``FaceLandmarkFrontCpu`` graph does it:

1. ROIs from the previous frame's landmarks (tracking only).
2. The detector runs only while fewer faces are tracked than ``max_faces``
   (``NormalizedRectVectorHasMinSizeCalculator``); its detections (best first, at most
   ``max_faces``) become ROIs.
3. Detection ROIs and tracked ROIs are merged (``AssociationNormRectCalculator``, IoU > 0.5:
   the tracked ROI wins), at most ``max_faces``.
4. Every ROI is warped to 192x192 and the batch goes through the landmark model once; faces
   whose face score is below ``score_threshold`` are dropped (MediaPipe emits no landmarks for
   them); the survivors' landmarks give the next frame's ROIs.
5. Rotation search (opt-in, not MediaPipe): when the detector ran and step 4 left no face,
   the detector runs once more on the frame turned by 90, 180 and 270 degrees (one call,
   batch of 3), the turn with the best detection wins, and its detections, mapped back to
   the frame, go through step 4 again. Their eye keypoints carry the turn into the ROI's
   rotation, so the landmark model sees an upright face cut from the original frame.

A frame is one thread hand-off: the header probe (tens of microseconds) runs on the loop,
then decode, detector, landmarks, the session's ``finish`` and the head pose run in one
Starlette threadpool task; the two model calls go through each model's one ``ModelCaller``
(``service.inference.batcher``), so they are micro-batched with every other request's calls of
the same model and run on that model's executor (``Settings.inference_concurrency`` calls at
once, all endpoints together). Each stage is timed into ``facemesh_stage_duration_seconds``
(``frame_decode``, ``detect``, ``landmarks``, ``pose``, ``frame_total``).

Decode (``docs/ARCHITECTURE.md`` "Decoding"): a frame the detector runs on is decoded whole,
as MediaPipe does. A tracking frame whose ROIs are all known (every face tracked, so the
detector does not run) is decoded DCT-scaled when it is a JPEG whose smallest tracked ROI keeps
at least ``LANDMARK_ROI_MIN_PX`` px per side at that scale: the landmark model's 192x192 warp
needs no more, and the decode costs what the model needs. Its memory cost is the reduced one,
held from the decode budget like any other.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Final

import numpy as np
from starlette.concurrency import run_in_threadpool

from service import metrics
from service.contract import MODEL_INPUT_SIZE, DetectorSpec, ModelOutputs
from service.core.config import Settings
from service.core.errors import BackendUnavailable
from service.inference.base import InferenceBackend
from service.inference.batcher import ModelCaller
from service.inference.detector import DetectorBackend, DetectorCaller
from service.pipelines.decode_budget import DecodeBudget
from service.processing.decode import EIGHTHS, Decoded, Header, decode
from service.processing.detection import (
    Detection,
    letterbox,
    postprocess_detections,
    turned_letterboxes,
)
from service.processing.face_geometry import GeometryError, HeadPose, estimate_pose
from service.processing.gaze import Gaze, IrisDistance, face_gaze, face_iris_distance
from service.processing.postprocess import FaceResult, project
from service.processing.roi import associate, roi_from_detection, roi_from_landmarks, roi_to_frame
from service.processing.warp import RotatedRect, warp_matrix, warp_through

# A tracked frame decodes reduced only while its smallest ROI keeps this many px per side.
LANDMARK_ROI_MIN_PX: Final = MODEL_INPUT_SIZE


@dataclass
class TrackState:
    """What a tracking session carries between frames: the ROIs (frame pixels) computed from
    the previous frame's landmarks. Empty means "nothing tracked": the detector runs."""

    rois: list[RotatedRect] = field(default_factory=list)


@dataclass(frozen=True)
class FrameFace:
    """One face found in a frame: the landmark result (frame pixels), the ROI it was cut
    from, and the detection behind that ROI (None when the ROI came from tracking).
    ``tracked_from``: the index in ``TrackState.rois`` of the tracked ROI it came from (None
    when detected); ``face_id`` (tracking sessions), ``pose``, ``gaze`` and
    ``iris_distance`` (``processing/gaze.py``) are filled in later."""

    result: FaceResult
    roi: RotatedRect
    detection: Detection | None
    tracked_from: int | None = None
    face_id: int | None = None
    pose: HeadPose | None = None
    gaze: Gaze | None = None
    iris_distance: IrisDistance | None = None


@dataclass(frozen=True)
class FrameResult:
    """Every face of one frame, in ROI order (detections best first, then tracked faces)."""

    width: int
    height: int
    faces: list[FrameFace]
    detector_ran: bool


class FramePipeline:
    """Shared by all requests and sessions; the only state is in the ``TrackState`` passed in.

    ``mesh_caller`` (shared with the default crop pipeline) and ``detector_callers`` (one per
    detector kind: ``short``, ``full``) are the models' ``ModelCaller``s, built in the
    lifespan and closed there. ``budget``: the process's one ``DecodeBudget``, shared with
    the crop pipelines."""

    def __init__(
        self,
        mesh: InferenceBackend,
        detector: DetectorBackend | None,
        settings: Settings,
        *,
        mesh_caller: ModelCaller[ModelOutputs],
        detector_callers: Mapping[str, DetectorCaller],
        pipeline: str = "attention",
        extra_detectors: Mapping[str, DetectorBackend] | None = None,
        budget: DecodeBudget,
    ) -> None:
        self.mesh = mesh
        self.pipeline = pipeline  # "attention" or "cascade": the landmark pipeline ``mesh`` runs
        self.detector = detector
        # Every loaded detector by kind ("short", "full"); ``detector`` is the default one.
        self.detectors: dict[str, DetectorBackend] = dict(extra_detectors or {})
        if detector is not None:
            self.detectors[detector.spec.name] = detector
        self.settings = settings
        self._settings = settings
        self.budget = budget
        # One micro-batching caller per model, shared with every endpoint.
        if set(detector_callers) != set(self.detectors):
            raise ValueError(
                f"detector callers {sorted(detector_callers)} for {sorted(self.detectors)}"
            )
        self._mesh_calls = mesh_caller
        self._detector_calls: dict[str, DetectorCaller] = dict(detector_callers)

    def decode(self, payload: bytes, header: Header | None = None, eighths: int = 8) -> Decoded:
        """Image bytes -> RGB pixels at ``eighths``/8 of the size (JPEG; others whole), with
        the gateway's size limits."""
        return decode(
            payload,
            min_side=self._settings.min_image_side,
            max_pixels=self._settings.max_image_pixels,
            header=header,
            eighths=eighths,
        )

    @staticmethod
    def decode_eighths(header: Header, state: TrackState | None, max_faces: int) -> int:
        """The DCT scale (n/8) a frame needs: reduced only for a JPEG shown as stored whose
        every face is tracked (the detector will not run) and whose smallest ROI keeps at
        least ``LANDMARK_ROI_MIN_PX`` px per side; 8 (whole) otherwise."""
        if (
            state is None
            or not state.rois
            or len(state.rois) < max_faces
            or not header.can_scale()
            or header.orientation != 1  # flipped axes round differently at reduced sizes
        ):
            return 8
        side = min(min(roi.width, roi.height) for roi in state.rois)
        return next(n for n in EIGHTHS[::-1] if n == 8 or side * n / 8 >= LANDMARK_ROI_MIN_PX)

    def _detector(self, kind: str | None = None) -> tuple[DetectorCaller, DetectorSpec]:
        """The ``kind`` detector (None: the default one) and its spec."""
        backend = self.detector if kind is None else self.detectors.get(kind)
        if backend is None:
            name = "the face detector" if kind is None else f"the {kind!r} face detector"
            raise BackendUnavailable(f"{name} is not loaded (build it: make model)")
        spec = backend.spec
        return self._detector_calls[spec.name], spec

    def detect(
        self,
        image: np.ndarray,
        max_faces: int,
        kind: str | None = None,
        size: tuple[int, int] | None = None,
    ) -> list[Detection]:
        """The detector's faces in ``image`` (frame pixels), best first, at most ``max_faces``;
        ``kind`` picks a loaded detector (None: the default); ``size``: the frame's (width,
        height) when ``image`` is a reduced decode of it (None: ``image``'s own)."""
        width, height = size or (image.shape[1], image.shape[0])
        calls, spec = self._detector(kind)
        regressors, classificators = calls.infer_blocking(letterbox(image, spec.input_size)[None])
        detections = postprocess_detections(
            regressors[0],
            classificators[0],
            width,
            height,
            self._settings.detection_score_threshold,
            spec=spec,
        )
        return detections[:max_faces]

    def detect_turned(
        self,
        image: np.ndarray,
        max_faces: int,
        kind: str | None = None,
        size: tuple[int, int] | None = None,
    ) -> list[Detection]:
        """The rotation search: the detector on ``image`` turned by 90, 180 and 270 degrees
        (one call, batch of 3). Returns the detections (frame pixels, best first, at most
        ``max_faces``) of the turn whose best detection scores highest; [] when none."""
        width, height = size or (image.shape[1], image.shape[0])
        backend, spec = self._detector(kind)
        regressors, classificators = backend.infer_blocking(
            turned_letterboxes(image, spec.input_size)
        )
        threshold = self._settings.detection_score_threshold
        found = [
            each
            for each in (
                postprocess_detections(
                    regressors[k - 1], classificators[k - 1], width, height, threshold, k, spec
                )
                for k in (1, 2, 3)
            )
            if each
        ]
        if not found:
            return []
        return max(found, key=lambda each: each[0].score)[:max_faces]

    def _landmarks(
        self,
        frame: Decoded,
        detections: list[Detection],
        tracked: list[RotatedRect],
        max_faces: int,
    ) -> list[FrameFace]:
        """ROIs from ``detections`` merged with ``tracked`` -> one landmark-model call -> the
        faces whose score reaches the threshold. Each ROI (frame pixels) is cut from
        ``frame.pixels`` at the decode's scale; results come back in frame pixels."""
        width, height = frame.width, frame.height
        rois = associate(
            [
                [(roi_from_detection(d), i) for i, d in enumerate(detections)],
                [(roi, -1 - i) for i, roi in enumerate(tracked)],
            ],
            width,
            height,
        )[:max_faces]
        faces: list[FrameFace] = []
        if rois:
            size = MODEL_INPUT_SIZE
            # Frame pixels -> decoded pixels: pixel edges scale by exactly n/8 (libjpeg).
            to_frame = np.diag([8 / frame.eighths, 8 / frame.eighths, 1.0])
            crops = np.stack(
                [
                    warp_through(
                        frame.pixels,
                        warp_matrix(roi, size, size) @ to_frame,
                        size,
                        size,
                        "replicate",
                    )
                    for roi, _ in rois
                ]
            )
            outputs = self._mesh_calls.infer_blocking(crops)
            results = project(
                outputs,
                roi_to_frame([roi for roi, _ in rois]),
                [(width, height)] * len(rois),
                self._settings.score_threshold,
            )
            for result, (roi, tag) in zip(results, rois, strict=True):
                if result.landmarks is None:  # below the threshold (or NaN)
                    continue
                if tag >= 0:
                    faces.append(FrameFace(result, roi, detections[tag]))
                else:
                    faces.append(FrameFace(result, roi, None, tracked_from=-1 - tag))
        return faces

    def process(
        self,
        image: np.ndarray | Decoded,
        max_faces: int,
        state: TrackState | None = None,
        rotation_search: bool | None = None,
        detector: str | None = None,
    ) -> FrameResult:
        """All faces of uint8 [H, W, 3] ``image``, or of a ``Decoded`` frame at its decode's
        scale (blocking). With ``state``, tracked ROIs are used and ``state`` is updated for
        the next frame.

        ``rotation_search`` (None: ``Settings.detection_rotation_search``): when the detector
        ran and the frame still has no face (no detection, or none the landmark model
        accepts), ``detect_turned`` searches the turned frame and its detections get one more
        landmark-model call; their ROIs are cut from the original frame. ``detector`` picks a
        loaded detector by kind (``short``, ``full``; None: the default one)."""
        if rotation_search is None:
            rotation_search = self._settings.detection_rotation_search
        frame = (
            image if isinstance(image, Decoded) else Decoded(image, image.shape[1], image.shape[0])
        )
        width, height = frame.width, frame.height
        tracked = list(state.rois) if state is not None else []
        detections: list[Detection] = []
        detector_ran = len(tracked) < max_faces
        if detector_ran:
            with metrics.timed("detect"):
                detections = self.detect(frame.pixels, max_faces, detector, (width, height))
        with metrics.timed("landmarks"):
            faces = self._landmarks(frame, detections, tracked, max_faces)
        if not faces and detector_ran and rotation_search:
            with metrics.timed("detect"):
                turned = self.detect_turned(frame.pixels, max_faces, detector, (width, height))
            if turned:
                # Tracked ROIs, if any, were just rejected: only the turned detections remain.
                with metrics.timed("landmarks"):
                    faces = self._landmarks(frame, turned, [], max_faces)
        if state is not None:
            state.rois = [
                roi_from_landmarks(face.result.landmarks)
                for face in faces
                if face.result.landmarks is not None
            ]
        return FrameResult(width, height, faces, detector_ran)

    def with_pose(self, frame: FrameResult, fov_degrees: float | None = None) -> FrameResult:
        """``frame`` with each face's head pose (``processing/face_geometry.py``), gaze and iris
        distance (``processing/gaze.py``, from the same landmarks) for a camera
        of vertical field of view ``fov_degrees`` (None: ``Settings.camera_fov_degrees``);
        a face whose landmarks give no pose keeps ``pose=None``."""
        fov = self._settings.camera_fov_degrees if fov_degrees is None else fov_degrees
        faces = []
        for face in frame.faces:
            pose = None
            if face.result.landmarks is not None:
                try:
                    pose = estimate_pose(face.result.landmarks, frame.width, frame.height, fov)
                except GeometryError:
                    pose = None
            landmarks = face.result.landmarks
            gaze = face_gaze(landmarks, pose, frame.width, frame.height, fov)
            iris = face_iris_distance(landmarks, frame.width, frame.height, fov)
            faces.append(replace(face, pose=pose, gaze=gaze, iris_distance=iris))
        return replace(frame, faces=faces)

    async def run(
        self,
        payload: bytes,
        max_faces: int,
        state: TrackState | None = None,
        rotation_search: bool | None = None,
        fov_degrees: float | None = None,
        finish: Callable[[FrameResult], FrameResult] | None = None,
        detector: str | None = None,
    ) -> FrameResult:
        """Decode, then ``process``, ``finish`` (a tracking session's face IDs and smoothing)
        and ``with_pose`` on the result, in one threadpool task; the model calls join this
        loop's micro-batches. The header probe (tens of microseconds) runs on the loop. The
        decode's estimated size (reduced when ``decode_eighths`` says so) is held from the
        decode budget meanwhile."""
        start = time.perf_counter()
        header = self.budget.probe(payload)
        eighths = self.decode_eighths(header, state, max_faces)
        async with self.budget.images([header.cost(eighths)]):
            def work() -> FrameResult:
                with metrics.timed("frame_decode"):
                    decoded = self.decode(payload, header, eighths)
                frame = self.process(decoded, max_faces, state, rotation_search, detector)
                decoded_bytes = decoded.pixels.nbytes
                del decoded
                self.budget.release_large(decoded_bytes)
                if finish is not None:
                    frame = finish(frame)
                with metrics.timed("pose"):
                    return self.with_pose(frame, fov_degrees)

            result = await run_in_threadpool(work)
        metrics.STAGE_SECONDS.labels(stage="frame_total").observe(time.perf_counter() - start)
        return result
