"""What the pipelines hand back (NumPy inside, frame or posted-image pixels), and what a
tracking session carries between frames. Plain data: the wire encoders
(``service.encoders``) turn it into JSON or protobuf."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import numpy as np

from service.processing.detection import Detection
from service.processing.face_geometry import HeadPose
from service.processing.gaze import Gaze, IrisDistance
from service.processing.postprocess import FaceResult
from service.processing.warp import RotatedRect

# The parts of a frame face an answer may be limited to (``?fields=``); a face always keeps
# its ``score`` and ``face_id``. None (no ``fields``) means every part.
FACE_FIELDS: Final = (
    "landmarks",
    "regions",
    "detection",
    "roi",
    "pose",
    "gaze",
    "iris_distance",
)
Fields = frozenset[str]


def wants(fields: Fields | None, *names: str) -> bool:
    """Whether an answer limited to ``fields`` (None: every part) has any of ``names``."""
    return fields is None or not fields.isdisjoint(names)


@dataclass(frozen=True)
class CropFace:
    """One posted crop's face: the landmark result and its head-relative gaze
    (``processing.gaze.crop_gaze``; None without landmarks or a usable eye);
    ``blendshapes``: float32 [52] scores when asked for and the face has landmarks."""

    result: FaceResult
    gaze: Gaze | None
    blendshapes: np.ndarray | None = None


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
    ``iris_distance`` (``processing/gaze.py``) and ``blendshapes`` (``pipelines/blendshapes.py``)
    are filled in later."""

    result: FaceResult
    roi: RotatedRect
    detection: Detection | None
    tracked_from: int | None = None
    face_id: int | None = None
    pose: HeadPose | None = None
    gaze: Gaze | None = None
    iris_distance: IrisDistance | None = None
    blendshapes: np.ndarray | None = None  # float32 [52], when asked for


@dataclass(frozen=True)
class FrameResult:
    """Every face of one frame, in ROI order (detections best first, then tracked faces)."""

    width: int
    height: int
    faces: list[FrameFace]
    detector_ran: bool
