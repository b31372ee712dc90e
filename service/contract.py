"""Every model's contract: tensor names and shapes, region order, MediaPipe's landmark indices.

The one literal home of these facts, for all five models: the fused Attention Mesh, the
cascade's mesh and iris models, and the two face detectors (short and full range, with their
anchor layout). ``ModelSpec`` is what one model looks like to a runtime or to Triton. The
converter builds its graphs' outputs from these facts, the service's backends check what a
runtime returns against them, and processing, benchmarks and tests index landmarks with them.
Shapes are per item, without the batch dimension (float32).

The index lists are MediaPipe's: the attention model's lips / eye subsets (its
``Landmarks2TransformMatrix`` ``subset_idxs``, which the converter checks against the model on
every conversion) are also the lists ``LandmarksRefinementCalculator`` writes each region's
points to, and the cascade's ``UpdateFaceLandmarksCalculator`` overwrites with the iris model's
71 eye-contour points. ``converter/README.md`` (model contract) and ``docs/mediapipe_semantics.md``
explain each one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Literal, get_args

import numpy as np

# --- the fused Attention Mesh model ---------------------------------------------------------
MODEL_INPUT_NAME = "image"  # every model's one input: uint8 [N, S, S, 3] RGB
MODEL_INPUT_SIZE = 192
NUM_MESH = 468
NUM_LANDMARKS = 478

MODEL_OUTPUTS: dict[str, tuple[int, ...]] = {
    "landmarks": (NUM_LANDMARKS, 3),
    "mesh": (NUM_MESH, 3),
    "lips": (80, 2),
    "left_eye": (71, 2),
    "right_eye": (71, 2),
    "left_iris": (5, 2),
    "right_iris": (5, 2),
    "region_transforms": (3, 4, 4),
    "face_score": (),
}

# Order of the regions in ``region_transforms``; the irises have points but no transform.
REGION_ORDER: tuple[str, ...] = ("lips", "left_eye", "right_eye")
IRIS_REGIONS: tuple[str, ...] = ("left_iris", "right_iris")
# A ``region_transforms`` matrix maps the region's 16x16 attention grid (one unit square =
# REGION_GRID_CELLS cells) to the 48x48 feature map, whose cells are REGION_FEATURE_STRIDE_PX
# model-input pixels each (px192 = 4 * feature).
REGION_GRID_CELLS = 16.0
REGION_FEATURE_STRIDE_PX = 4.0

# --- MediaPipe landmark indices -------------------------------------------------------------
LIPS: tuple[int, ...] = (
    *(61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 185, 40, 39, 37, 0, 267, 269, 270),
    *(409, 78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 191, 80, 81, 82, 13, 312, 311),
    *(310, 415, 76, 77, 90, 180, 85, 16, 315, 404, 320, 307, 306, 184, 74, 73, 72, 11, 302),
    *(303, 304, 408, 62, 96, 89, 179, 86, 15, 316, 403, 319, 325, 292, 183, 42, 41, 38, 12),
    *(268, 271, 272, 407),
)
LEFT_EYE: tuple[int, ...] = (
    *(33, 7, 163, 144, 145, 153, 154, 155, 133, 246, 161, 160, 159, 158, 157, 173),
    *(130, 25, 110, 24, 23, 22, 26, 112, 243, 247, 30, 29, 27, 28, 56, 190),
    *(226, 31, 228, 229, 230, 231, 232, 233, 244, 113, 225, 224, 223, 222, 221, 189),
    *(35, 124, 46, 53, 52, 65, 143, 111, 117, 118, 119, 120, 121, 128, 245),
    *(156, 70, 63, 105, 66, 107, 55, 193),
)
RIGHT_EYE: tuple[int, ...] = (
    *(263, 249, 390, 373, 374, 380, 381, 382, 362, 466, 388, 387, 386, 385, 384, 398),
    *(359, 255, 339, 254, 253, 252, 256, 341, 463, 467, 260, 259, 257, 258, 286, 414),
    *(446, 261, 448, 449, 450, 451, 452, 453, 464, 342, 445, 444, 443, 442, 441, 413),
    *(265, 353, 276, 283, 282, 295, 372, 340, 346, 347, 348, 349, 350, 357, 465),
    *(383, 300, 293, 334, 296, 336, 285, 417),
)
LEFT_IRIS: tuple[int, ...] = (468, 469, 470, 471, 472)
RIGHT_IRIS: tuple[int, ...] = (473, 474, 475, 476, 477)
# Each iris's z is the mean mesh z over the first 16 indices of its eye's list.
IRIS_DEPTH_SOURCES = 16

# Ordered contours, sliced from the lists above (MediaPipe writes each contour's lower arc
# corner to corner, then the upper arc's inner points from the same corner): closed rings for
# the lips (outer, inner), the eyes' lid-margin rings and the upper lids corner to corner.
EYE_CONTOUR_POINTS = 16


def _ring(contour: tuple[int, ...]) -> tuple[int, ...]:
    """Lower arc (corner to corner) then the upper arc back: one closed ring."""
    half = len(contour) // 2 + 1
    return (*contour[:half], *reversed(contour[half:]))


def _upper_arc(contour: tuple[int, ...]) -> tuple[int, ...]:
    """The upper arc corner to corner (the first corner, its inner points, the second)."""
    half = len(contour) // 2 + 1
    return (contour[0], *contour[half:], contour[half - 1])


LIPS_OUTER: tuple[int, ...] = _ring(LIPS[:20])
LIPS_INNER: tuple[int, ...] = _ring(LIPS[20:40])
LEFT_EYE_RING: tuple[int, ...] = _ring(LEFT_EYE[:EYE_CONTOUR_POINTS])
RIGHT_EYE_RING: tuple[int, ...] = _ring(RIGHT_EYE[:EYE_CONTOUR_POINTS])
LEFT_UPPER_LID: tuple[int, ...] = _upper_arc(LEFT_EYE[:EYE_CONTOUR_POINTS])
RIGHT_UPPER_LID: tuple[int, ...] = _upper_arc(RIGHT_EYE[:EYE_CONTOUR_POINTS])

# Refinement order (after the mesh; later regions overwrite x, y of earlier ones).
REFINEMENTS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("lips", LIPS),
    ("left_eye", LEFT_EYE),
    ("right_eye", RIGHT_EYE),
    ("left_iris", LEFT_IRIS),
    ("right_iris", RIGHT_IRIS),
)

# Start -> end landmark of the vector that fixes a rotation (it is made horizontal).
LEFT_EYE_CORNERS: tuple[int, int] = (33, 133)  # cascade: left eye ROI
RIGHT_EYE_CORNERS: tuple[int, int] = (362, 263)  # cascade: right eye ROI
LIPS_CORNERS: tuple[int, int] = (61, 291)  # lips region box
FACE_ROTATION: tuple[int, int] = (33, 263)  # tracking ROI from the previous frame's landmarks
# Detection keypoints (left eye, right eye) that fix the ROI rotation after detection.
DETECTION_EYES: tuple[int, int] = (0, 1)

# --- the cascade (pre-attention) models -----------------------------------------------------
CASCADE_MESH_OUTPUTS: dict[str, tuple[int, ...]] = {"mesh": (NUM_MESH, 3), "face_score": ()}
IRIS_INPUT_SIZE = 64
IRIS_OUTPUTS: dict[str, tuple[int, ...]] = {"eye_contour": (71, 3), "iris": (5, 3)}

# --- the face detectors (MediaPipe's short- and full-range BlazeFace) -----------------------
# Per anchor: x, y, w, h, then six (x, y) keypoints; one face-presence logit.
DETECTOR_NUM_COORDS = 16
DETECTOR_NUM_KEYPOINTS = 6


# The detector kinds as a type (Settings.detector, ?detector=, DetectorSpec.name); the contract
# test checks it names exactly the DETECTORS.
DetectorKind = Literal["short", "full"]


@dataclass(frozen=True)
class DetectorSpec:
    """One MediaPipe face detector: its letterbox side (also its x/y/w/h scale), the SSD
    anchor layers' strides, whether each layer adds an interpolated-scale anchor
    (``interpolated_scale_aspect_ratio: 1.0``) beside its aspect-ratio-1 anchor, the anchor
    count those give (the models' box dimension; ``processing.detection.ssd_anchors`` derives
    it, and the contract test checks the two agree), and the graph's own ``min_score_thresh``
    (a floor under the caller's threshold)."""

    name: DetectorKind
    input_size: int
    strides: tuple[int, ...]
    interpolated_scale: bool
    num_boxes: int
    min_score: float = 0.5

    @property
    def outputs(self) -> dict[str, tuple[int, ...]]:
        """The detector model's outputs: raw regressions and logits, one row per anchor."""
        return {
            "regressors": (self.num_boxes, DETECTOR_NUM_COORDS),
            "classificators": (self.num_boxes, 1),
        }


# 16x16x2 + 8x8x6 anchors on 128x128 (faces within about 2 m).
SHORT_RANGE = DetectorSpec("short", 128, (8, 16, 16, 16), True, 896)
# One 48x48 grid of stride 4 on 192x192, one anchor per cell; the graph decodes with
# min_score_thresh 0.6.
FULL_RANGE = DetectorSpec("full", 192, (4,), False, 2304, 0.6)
DETECTORS: dict[str, DetectorSpec] = {spec.name: spec for spec in (SHORT_RANGE, FULL_RANGE)}
# The landmark pipelines a gateway can load (Settings.pipeline, ?model=).
PipelineName = Literal["attention", "cascade", "landmarker"]
PIPELINES: tuple[str, ...] = get_args(PipelineName)


def detector_model(kind: str) -> str:
    """The model label of the ``kind`` face detector (its micro-batcher, metrics)."""
    return f"detector_{kind}"


# Every model behind a micro-batcher, as metrics label it: the landmark pipelines by name,
# then the face detectors by kind.
# The blendshape model runs after a pipeline's landmarks (on request), under its own label.
BLENDSHAPES_MODEL = "blendshapes"
MODEL_LABELS: tuple[str, ...] = (
    *PIPELINES,
    BLENDSHAPES_MODEL,
    *(detector_model(kind) for kind in DETECTORS),
)


# --- every model, as runtimes and Triton see it ---------------------------------------------
@dataclass(frozen=True)
class ModelSpec:
    """What one model looks like to every runtime and to Triton: one uint8 NHWC input of
    ``input_size`` squared pixels named ``input_name``, and ``outputs`` (name -> float32 shape
    without the batch dimension). ``label`` names it in errors; ``build_hint`` says how to
    build its file. A model that takes no image (the blendshape model reads points) sets
    ``input_dtype`` and ``item_shape`` instead; ``input_size`` is then 0."""

    label: str
    input_size: int
    outputs: Mapping[str, tuple[int, ...]]
    input_name: str = MODEL_INPUT_NAME
    build_hint: str = "make model"
    input_dtype: str = "uint8"
    item_shape: tuple[int, ...] = ()

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One item of the input, without the batch dimension."""
        return self.item_shape or (self.input_size, self.input_size, 3)

    @property
    def triton_dtype(self) -> str:
        """The input's datatype as Triton names it."""
        return TRITON_DTYPES[self.input_dtype]


# NumPy dtype name -> Triton datatype, for the inputs the models have.
TRITON_DTYPES: dict[str, str] = {"uint8": "UINT8", "float32": "FP32"}


ATTENTION_SPEC = ModelSpec("attention mesh", MODEL_INPUT_SIZE, MODEL_OUTPUTS)
CASCADE_MESH_SPEC = ModelSpec(
    "cascade mesh", MODEL_INPUT_SIZE, CASCADE_MESH_OUTPUTS, build_hint="make cascade-models"
)
IRIS_SPEC = ModelSpec(
    "cascade iris", IRIS_INPUT_SIZE, IRIS_OUTPUTS, build_hint="make cascade-models"
)
DETECTOR_SPECS: dict[str, ModelSpec] = {
    spec.name: ModelSpec(f"face detector ({spec.name} range)", spec.input_size, spec.outputs)
    for spec in DETECTORS.values()
}


# --- MediaPipe Tasks FaceLandmarker (docs/landmarker.md) -------------------------------------
# The landmark model: a 256x256 RGB crop in [0, 1] -> 478 points in pixels of the 256x256 input
# (x, y, and z on the x scale), the face-presence probability (sigmoid of its logit; FaceLandmarker
# keeps a face above ``LANDMARKER_MIN_PRESENCE``) and the model's own tongue-out probability
# (FaceLandmarker does not use it).
LANDMARKER_INPUT_SIZE = 256
LANDMARKER_OUTPUTS: dict[str, tuple[int, ...]] = {
    "landmarks": (NUM_LANDMARKS, 3),
    "face_score": (),
    "tongue_out": (),
}
LANDMARKER_BUILD_HINT = "make landmarker-models"
LANDMARKER_SPEC = ModelSpec(
    "face landmarker", LANDMARKER_INPUT_SIZE, LANDMARKER_OUTPUTS, build_hint=LANDMARKER_BUILD_HINT
)

# The model input side of each landmark pipeline (crops are resized to it, frame ROIs warped).
PIPELINE_INPUT_SIZES: dict[str, int] = {
    "attention": MODEL_INPUT_SIZE,
    "cascade": MODEL_INPUT_SIZE,
    "landmarker": LANDMARKER_INPUT_SIZE,
}

# The ROI the landmark model sees. After detection (image mode, and video mode whenever the
# detector runs): the detector's box, rotated so that detection keypoint 0 -> 1 (``DETECTION_EYES``)
# is horizontal, scaled by 1.5 about its centre, NOT squared. From the previous frame's landmarks
# (video mode): the landmarks' bounding box, rotated so that ``FACE_ROTATION`` (33 -> 263) is
# horizontal, scaled by 1.5 and squared to its longer side. The crop is stretched to 256x256
# (no letterbox); pixels outside the image repeat the border.
LANDMARKER_DETECTION_ROI_SCALE = 1.5
LANDMARKER_DETECTION_ROI_SQUARE = False
LANDMARKER_TRACKING_ROI_SCALE = 1.5
LANDMARKER_TRACKING_ROI_SQUARE = True
LANDMARKER_MIN_PRESENCE = 0.5  # min_face_presence_confidence
LANDMARKER_MIN_DETECTION = 0.5  # min_face_detection_confidence
LANDMARKER_MIN_TRACKING = 0.5  # min_tracking_confidence (IoU of a kept ROI with a new box)
LANDMARKER_NMS_IOU = 0.3  # the face detector's min_suppression_threshold
# Video mode with one face: FaceLandmarker smooths the landmarks with a one-euro filter per
# coordinate (frame pixels; speed scaled by 1 / the landmarks' mean box side), these parameters,
# the sampling rate 1 / the gap between timestamps, but the start rate after a frame stamped 0.
LANDMARKER_SMOOTHING_MIN_CUTOFF = 0.05
LANDMARKER_SMOOTHING_BETA = 80.0
LANDMARKER_SMOOTHING_DERIVATE_CUTOFF = 1.0
LANDMARKER_SMOOTHING_START_RATE = 30.0

# The blendshape model: 146 of the 478 landmarks, x and y in pixels of the whole image (the
# model centres and scales them itself), -> 52 scores in [0, 1], in ``BLENDSHAPE_NAMES`` order.
BLENDSHAPE_INPUT_NAME = "points"
BLENDSHAPE_LANDMARKS: tuple[int, ...] = (
    *(0, 1, 4, 5, 6, 7, 8, 10, 13, 14, 17, 21, 33, 37, 39, 40, 46, 52, 53, 54, 55, 58, 61),
    *(63, 65, 66, 67, 70, 78, 80, 81, 82, 84, 87, 88, 91, 93, 95, 103, 105, 107, 109, 127),
    *(132, 133, 136, 144, 145, 146, 148, 149, 150, 152, 153, 154, 155, 157, 158, 159, 160),
    *(161, 162, 163, 168, 172, 173, 176, 178, 181, 185, 191, 195, 197, 234, 246, 249, 251),
    *(263, 267, 269, 270, 276, 282, 283, 284, 285, 288, 291, 293, 295, 296, 297, 300, 308),
    *(310, 311, 312, 314, 317, 318, 321, 323, 324, 332, 334, 336, 338, 356, 361, 362, 365),
    *(373, 374, 375, 377, 378, 379, 380, 381, 382, 384, 385, 386, 387, 388, 389, 390, 397),
    *(398, 400, 402, 405, 409, 415, 454, 466, 468, 469, 470, 471, 472, 473, 474, 475, 476),
    477,
)
BLENDSHAPE_NAMES: tuple[str, ...] = (
    *("_neutral", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft"),
    *("browOuterUpRight", "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft"),
    *("eyeBlinkRight", "eyeLookDownLeft", "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight"),
    *("eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight", "eyeSquintLeft"),
    *("eyeSquintRight", "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft", "jawOpen"),
    *("jawRight", "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft"),
    *("mouthFrownRight", "mouthFunnel", "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight"),
    *("mouthPressLeft", "mouthPressRight", "mouthPucker", "mouthRight", "mouthRollLower"),
    *("mouthRollUpper", "mouthShrugLower", "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight"),
    *("mouthStretchLeft", "mouthStretchRight", "mouthUpperUpLeft", "mouthUpperUpRight"),
    *("noseSneerLeft", "noseSneerRight"),
)
BLENDSHAPE_OUTPUTS: dict[str, tuple[int, ...]] = {"blendshapes": (len(BLENDSHAPE_NAMES),)}
BLENDSHAPES_SPEC = ModelSpec(
    "face blendshapes",
    0,
    BLENDSHAPE_OUTPUTS,
    input_name=BLENDSHAPE_INPUT_NAME,
    build_hint=LANDMARKER_BUILD_HINT,
    input_dtype="float32",
    item_shape=(len(BLENDSHAPE_LANDMARKS), 2),
)


@dataclass(frozen=True)
class ModelOutputs:
    """The fused model's outputs for a batch of N crops, in px192 units.

    landmarks:          float32 [N, 478, 3]
    mesh:               float32 [N, 468, 3]
    lips:               float32 [N, 80, 2]
    left_eye/right_eye: float32 [N, 71, 2]
    left_iris/right_iris: float32 [N, 5, 2]
    region_transforms:  float32 [N, 3, 4, 4]  (``REGION_ORDER``)
    face_score:         float32 [N]           (sigmoid of the face-presence logit)
    """

    landmarks: np.ndarray
    mesh: np.ndarray
    lips: np.ndarray
    left_eye: np.ndarray
    right_eye: np.ndarray
    left_iris: np.ndarray
    right_iris: np.ndarray
    region_transforms: np.ndarray
    face_score: np.ndarray

    @classmethod
    def from_named(cls, named: dict[str, np.ndarray]) -> ModelOutputs:
        """Build from a name -> array mapping, checking every contract shape."""
        arrays: dict[str, np.ndarray] = {}
        batch: int | None = None
        for name, shape in MODEL_OUTPUTS.items():
            if name not in named:
                raise ValueError(f"model output {name!r} missing")
            array = np.asarray(named[name], dtype=np.float32)
            if array.shape[1:] != shape:
                raise ValueError(f"model output {name!r} has shape {array.shape}, want [N,{shape}]")
            if batch is None:
                batch = array.shape[0]
            elif array.shape[0] != batch:
                raise ValueError(f"model output {name!r} has batch {array.shape[0]}, want {batch}")
            arrays[name] = array
        return cls(**arrays)

    @property
    def batch_size(self) -> int:
        return int(self.face_score.shape[0])

    def rows(self, start: int, stop: int) -> ModelOutputs:
        """Rows ``start:stop`` of every output (one request's share of a batched call)."""
        if start == 0 and stop == self.batch_size:
            return self
        return ModelOutputs(
            **{field.name: getattr(self, field.name)[start:stop] for field in fields(self)}
        )
