"""Typed results: the gateway's JSON (``FacesResponse``, ``FrameResponse``) as dataclasses of
NumPy arrays.

Parsing is lenient on purpose: fields the client does not know are ignored (every object keeps
its JSON in ``raw``), and optional fields a server may or may not send (``detection``, ``roi``,
``face_id``, ``pose``, ...) are ``None`` when absent, so an older client keeps working as the
server's responses grow. Coordinates are posted-image pixels (see the README's API section).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

REGION_NAMES = ("lips", "left_eye", "right_eye", "left_iris", "right_iris")

Json = Mapping[str, Any]


def _array(value: Any, columns: int | None = None) -> np.ndarray:
    """float64 array of ``value`` (a JSON list of numbers or of rows); ``(0, columns)`` when
    empty, so shapes stay two-dimensional."""
    array = np.asarray(value if value is not None else [], dtype=np.float64)
    if array.size == 0 and columns is not None:
        return array.reshape(0, columns)
    return array


def _optional_array(value: Any, columns: int | None = None) -> np.ndarray | None:
    return None if value is None else _array(value, columns)


def _mapping(value: Any) -> Json:
    return value if isinstance(value, Mapping) else {}


@dataclass(frozen=True)
class ModelInfo:
    name: str
    version: str
    backend: str
    pipeline: str | None
    raw: Json = field(repr=False)

    @classmethod
    def parse(cls, data: Any) -> ModelInfo:
        data = _mapping(data)
        pipeline = data.get("pipeline")
        return cls(
            name=str(data.get("name", "")),
            version=str(data.get("version", "")),
            backend=str(data.get("backend", "")),
            pipeline=None if pipeline is None else str(pipeline),
            raw=data,
        )


@dataclass(frozen=True)
class ImageSize:
    width: int
    height: int

    @classmethod
    def parse(cls, data: Any) -> ImageSize:
        data = _mapping(data)
        return cls(width=int(data.get("width", 0)), height=int(data.get("height", 0)))


@dataclass(frozen=True)
class Region:
    """``landmarks``: ``(N, 2)`` [x, y]; ``affine``: ``(2, 3)`` mapping the region's unit square
    (u, v in 0..1) to pixels, ``[x, y] = affine @ [u, v, 1]`` (``None`` for the irises)."""

    landmarks: np.ndarray
    affine: np.ndarray | None
    raw: Json = field(repr=False)

    @classmethod
    def parse(cls, data: Any) -> Region:
        data = _mapping(data)
        return cls(
            landmarks=_array(data.get("landmarks"), 2),
            affine=_optional_array(data.get("affine")),
            raw=data,
        )


@dataclass(frozen=True)
class Regions:
    """The refined regions: ``lips`` (80 points), ``left_eye``/``right_eye`` (71 each, with
    ``affine``), ``left_iris``/``right_iris`` (5 each). Regions a newer server adds are in
    ``extra``; ``regions["lips"]`` looks up either."""

    lips: Region | None
    left_eye: Region | None
    right_eye: Region | None
    left_iris: Region | None
    right_iris: Region | None
    extra: dict[str, Region] = field(default_factory=dict)

    @classmethod
    def parse(cls, data: Any) -> Regions:
        data = _mapping(data)
        parsed = {name: Region.parse(value) for name, value in data.items() if value is not None}
        known = {name: parsed.pop(name, None) for name in REGION_NAMES}
        return cls(**known, extra=parsed)

    def __getitem__(self, name: str) -> Region:
        region = getattr(self, name, None) if name in REGION_NAMES else self.extra.get(name)
        if not isinstance(region, Region):
            raise KeyError(name)
        return region

    def names(self) -> list[str]:
        """Names of the regions present."""
        return [n for n in REGION_NAMES if getattr(self, n) is not None] + list(self.extra)


@dataclass(frozen=True)
class GazeRay:
    """One gaze: ``direction`` (3,) unit vector, ``yaw``/``pitch`` in degrees (positive:
    towards the image's right / down) and ``eyeball_center`` (3,) in cm, camera space (``None``
    in the head's frame)."""

    direction: np.ndarray
    yaw: float
    pitch: float
    eyeball_center: np.ndarray | None
    raw: Json = field(repr=False)

    @classmethod
    def parse(cls, data: Any) -> GazeRay:
        data = _mapping(data)
        return cls(
            direction=_array(data.get("direction")),
            yaw=float(data.get("yaw", 0.0)),
            pitch=float(data.get("pitch", 0.0)),
            eyeball_center=_optional_array(data.get("eyeball_center")),
            raw=data,
        )


@dataclass(frozen=True)
class Gaze:
    """Gaze per eye (``left``: the eye on the image's left) and ``combined`` (both eyes):
    in the camera frame (``FrameFace.gaze``) or relative to the head (``Face.head_gaze``)."""

    left: GazeRay | None
    right: GazeRay | None
    combined: GazeRay | None
    raw: Json = field(repr=False)

    @classmethod
    def parse(cls, data: Any) -> Gaze:
        data = _mapping(data)
        rays = {
            name: None if data.get(name) is None else GazeRay.parse(data[name])
            for name in ("left", "right", "combined")
        }
        return cls(**rays, raw=data)


@dataclass(frozen=True)
class IrisDistance:
    """Camera-to-iris distance per eye in cm, from the iris's apparent size."""

    left: float
    right: float
    raw: Json = field(repr=False)

    @classmethod
    def parse(cls, data: Any) -> IrisDistance:
        data = _mapping(data)
        return cls(left=float(data.get("left", 0.0)), right=float(data.get("right", 0.0)), raw=data)


# MediaPipe's blendshape categories, in the blendshape model's output order: what the gRPC
# stream's Face.blendshapes (52 floats) means. The server's copy is service.contract's; a test
# checks the two agree.
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


@dataclass(frozen=True)
class Face:
    """One face of ``/v1/crop`` or ``/v1/crops``. ``landmarks``: ``(478, 3)`` [x, y, z] in
    posted-image pixels (z on the x scale); ``landmarks`` and ``regions`` are ``None`` when
    ``score`` is below the server's threshold. ``head_gaze``: gaze relative to the head, when
    the server sends it. ``blendshapes``: with ``blendshapes=True``, MediaPipe's 52
    blendshape names (``BLENDSHAPE_NAMES`` order) -> score 0..1; ``None`` otherwise."""

    image: ImageSize
    score: float
    landmarks: np.ndarray | None
    regions: Regions | None
    raw: Json = field(repr=False)
    head_gaze: Gaze | None = None
    blendshapes: dict[str, float] | None = None

    @classmethod
    def parse(cls, data: Any) -> Face:
        data = _mapping(data)
        return cls(**_face_fields(data))


def _face_fields(data: Json) -> dict[str, Any]:
    regions, head_gaze = data.get("regions"), data.get("head_gaze")
    blendshapes = data.get("blendshapes")
    return {
        "blendshapes": (
            None
            if not isinstance(blendshapes, Mapping)
            else {str(name): float(score) for name, score in blendshapes.items()}
        ),
        "image": ImageSize.parse(data.get("image")),
        "score": float(data.get("score", 0.0)),
        "landmarks": _optional_array(data.get("landmarks"), 3),
        "regions": None if regions is None else Regions.parse(regions),
        "raw": data,
        "head_gaze": None if head_gaze is None else Gaze.parse(head_gaze),
    }


@dataclass(frozen=True)
class Detection:
    """The detector's view of a face: ``box`` [xmin, ymin, width, height], ``keypoints``
    ``(6, 2)`` (eyes, nose tip, mouth, tragions), ``quarter_turns`` (rotation search)."""

    box: np.ndarray
    score: float
    keypoints: np.ndarray
    quarter_turns: int
    raw: Json = field(repr=False)

    @classmethod
    def parse(cls, data: Any) -> Detection:
        data = _mapping(data)
        return cls(
            box=_array(data.get("box")),
            score=float(data.get("score", 0.0)),
            keypoints=_array(data.get("keypoints"), 2),
            quarter_turns=int(data.get("quarter_turns", 0)),
            raw=data,
        )


@dataclass(frozen=True)
class Roi:
    """The rotated square the landmark model saw: ``center`` [x, y], ``size`` (px),
    ``rotation`` (radians, clockwise on screen)."""

    center: np.ndarray
    size: float
    rotation: float
    raw: Json = field(repr=False)

    @classmethod
    def parse(cls, data: Any) -> Roi:
        data = _mapping(data)
        return cls(
            center=_array(data.get("center")),
            size=float(data.get("size", 0.0)),
            rotation=float(data.get("rotation", 0.0)),
            raw=data,
        )


@dataclass(frozen=True)
class Pose:
    """Head pose when the server sends one: ``matrix`` (4 x 4, canonical face model to camera
    space) and ``euler_degrees`` (``{"pitch", "yaw", "roll"}``); ``None`` for absent parts."""

    matrix: np.ndarray | None
    euler_degrees: dict[str, float] | None
    raw: Json = field(repr=False)

    @classmethod
    def parse(cls, data: Any) -> Pose:
        data = _mapping(data)
        euler = data.get("euler_degrees")
        return cls(
            matrix=_optional_array(data.get("matrix")),
            euler_degrees=(
                {str(k): float(v) for k, v in euler.items() if isinstance(v, (int, float))}
                if isinstance(euler, Mapping)
                else None
            ),
            raw=data,
        )


@dataclass(frozen=True)
class FrameFace(Face):
    """A face of ``/v1/frame`` or a tracking session: a :class:`Face` plus how it was found.
    ``detection`` is ``None`` when the face was tracked from the previous frame; ``face_id``
    ``pose``, ``gaze`` (camera frame) and ``iris_distance`` are ``None`` unless the server
    sends them."""

    detection: Detection | None = None
    roi: Roi | None = None
    face_id: int | None = None
    pose: Pose | None = None
    gaze: Gaze | None = None
    iris_distance: IrisDistance | None = None

    @classmethod
    def parse(cls, data: Any) -> FrameFace:
        data = _mapping(data)
        detection, roi, pose = data.get("detection"), data.get("roi"), data.get("pose")
        face_id = data.get("face_id")
        return cls(
            **_face_fields(data),
            detection=None if detection is None else Detection.parse(detection),
            roi=None if roi is None else Roi.parse(roi),
            face_id=None if face_id is None else int(face_id),
            pose=None if pose is None else Pose.parse(pose),
            gaze=None if data.get("gaze") is None else Gaze.parse(data["gaze"]),
            iris_distance=(
                None
                if data.get("iris_distance") is None
                else IrisDistance.parse(data["iris_distance"])
            ),
        )


@dataclass(frozen=True)
class FacesResult:
    """``/v1/crop`` and ``/v1/crops``: one face per posted crop, in posting order."""

    model: ModelInfo
    faces: list[Face]
    request_id: str | None
    raw: Json = field(repr=False)

    @classmethod
    def parse(cls, data: Any, request_id: str | None = None) -> FacesResult:
        data = _mapping(data)
        return cls(
            model=ModelInfo.parse(data.get("model")),
            faces=[Face.parse(face) for face in data.get("faces") or []],
            request_id=request_id,
            raw=data,
        )


@dataclass(frozen=True)
class FrameResult:
    """``/v1/frame`` or one frame of a tracking session: every face found (possibly none).
    ``request_id`` is ``None`` inside a WebSocket session."""

    model: ModelInfo
    image: ImageSize
    faces: list[FrameFace]
    detector_ran: bool
    request_id: str | None
    raw: Json = field(repr=False)

    @classmethod
    def parse(cls, data: Any, request_id: str | None = None) -> FrameResult:
        data = _mapping(data)
        return cls(
            model=ModelInfo.parse(data.get("model")),
            image=ImageSize.parse(data.get("image")),
            faces=[FrameFace.parse(face) for face in data.get("faces") or []],
            detector_ran=bool(data.get("detector_ran", False)),
            request_id=request_id,
            raw=data,
        )
