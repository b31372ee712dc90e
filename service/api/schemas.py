"""Pydantic response models: the only place the HTTP shapes are defined."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

Point2 = tuple[float, float]
Point3 = tuple[float, float, float]


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable error code.")
    message: str = Field(description="Human-readable explanation.")


class ErrorResponse(BaseModel):
    error: ErrorDetail


def error_responses(descriptions: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries: each status documented with the error body schema."""
    return {
        status: {"model": ErrorResponse, "description": description}
        for status, description in descriptions.items()
    }


class ImageSize(BaseModel):
    width: int = Field(description="Posted image width in pixels (after EXIF orientation).")
    height: int = Field(description="Posted image height in pixels (after EXIF orientation).")


class ModelInfo(BaseModel):
    name: str
    version: str
    backend: str = Field(
        description="What ran the model: the embedded runtime (openvino, onnxruntime) or triton."
    )
    pipeline: str = Field(
        "attention",
        description="`attention` (the fused Attention Mesh), `cascade` (468-point mesh, then "
        "the iris model per eye; its lips region is the mesh's own lips points) or `landmarker` "
        "(MediaPipe Tasks FaceLandmarker's landmark model; no region affines).",
    )


class Region(BaseModel):
    landmarks: list[Point2] = Field(description="[x, y] in posted-image pixels.")
    affine: list[list[float]] | None = Field(
        description="2x3 matrix mapping the region's unit square (u, v in 0..1) to "
        "posted-image pixels: [x, y] = A @ [u, v, 1]. Null on the `landmarker` pipeline, "
        "whose model has no region transforms (its region points are its own landmarks)."
    )


class Iris(BaseModel):
    landmarks: list[Point2] = Field(description="5 x [x, y] in posted-image pixels.")


class Regions(BaseModel):
    lips: Region = Field(description="80 landmarks.")
    left_eye: Region = Field(description="71 landmarks.")
    right_eye: Region = Field(description="71 landmarks.")
    left_iris: Iris
    right_iris: Iris


class GazeAngles(BaseModel):
    direction: Point3 = Field(description="Unit gaze vector.")
    yaw: float = Field(
        description="Degrees, positive: towards the image's right (as the pose's yaw; a mirrored "
        "image negates it); yaw = atan2(x, z)."
    )
    pitch: float = Field(description="Degrees, positive: down (as the pose's pitch); asin(-y).")


class EyeGaze(GazeAngles):
    eyeball_center: Point3 = Field(
        description="Where the gaze starts: the eyeball centre (the eyes' mid-point for "
        "`combined`), cm, camera space."
    )


class HeadGaze(BaseModel):
    """Gaze in the head's frame (MediaPipe's canonical face axes: x towards the image's right
    for a frontal face, y up, z out of the face): yaw = pitch = 0 is straight ahead."""

    left: GazeAngles = Field(description="The eye on the image's left (landmarks 33, 133, 468).")
    right: GazeAngles = Field(description="The eye on the image's right (263, 362, 473).")
    combined: GazeAngles = Field(description="Both eyes: their mean direction.")
    eyes_angle: float = Field(description="Degrees between the two eyes' lines of sight.")
    plausible: bool = Field(
        description="eyes_angle is at most 60 degrees: two eyes of one face look at one point. "
        "False: the landmarks are not one well-framed face (e.g. a crop holding two faces) or "
        "the eyes are too small to read; do not use the gaze (docs/gaze.md)."
    )


class Gaze(BaseModel):
    """Gaze in the pose's camera frame (x right, y up, the camera looks down -z): looking into
    the lens is the direction from `eyeball_center` towards the origin."""

    left: EyeGaze
    right: EyeGaze
    combined: EyeGaze
    eyes_angle: float = Field(description="As in HeadGaze.")
    plausible: bool = Field(description="As in HeadGaze.")


class IrisDistance(BaseModel):
    left: float = Field(description="Camera to the left iris, cm.")
    right: float = Field(description="Camera to the right iris, cm.")


class Face(BaseModel):
    image: ImageSize
    score: float = Field(description="Face presence probability (0..1).")
    landmarks: list[Point3] | None = Field(
        description="478 x [x, y, z] in posted-image pixels, z on the x scale; null when the "
        "score is below the threshold."
    )
    regions: Regions | None = Field(description="Null when the score is below the threshold.")
    head_gaze: HeadGaze | None = Field(
        None,
        description="Gaze relative to the head (docs/gaze.md). On /v1/crop(s), from a "
        "weak-perspective fit (no camera); on frames, the camera-frame `gaze` turned into the "
        "head's frame. Null without landmarks (or, on frames, without a pose).",
    )
    blendshapes: dict[str, float] | None = Field(
        None,
        description="With `?blendshapes=true`: MediaPipe's 52 blendshape category names "
        "(`_neutral`, `browDownLeft`, ... `noseSneerRight`, in the model's order) -> score "
        "0..1, from FaceLandmarker's blendshape model on this face's landmarks "
        "(docs/landmarker.md). Null when not asked for or without landmarks.",
    )


class FacesResponse(BaseModel):
    model: ModelInfo
    faces: list[Face] = Field(description="One item per posted crop, in posting order.")


class HealthResponse(BaseModel):
    status: str


class FrameDetection(BaseModel):
    box: tuple[float, float, float, float] = Field(
        description="Detector box [xmin, ymin, width, height] in posted-image pixels."
    )
    score: float = Field(description="Detector confidence (0..1).")
    keypoints: list[Point2] = Field(
        description="6 x [x, y]: left eye, right eye, nose tip, mouth, left and right tragion."
    )
    quarter_turns: int = Field(
        0,
        ge=0,
        le=3,
        description="0, or k when the rotation search found this face on the frame turned "
        "counter-clockwise by k x 90 degrees (box and keypoints are in the posted frame).",
    )


class FrameRoi(BaseModel):
    center: Point2 = Field(description="ROI centre in posted-image pixels.")
    size: float = Field(description="Side of the square ROI in pixels.")
    rotation: float = Field(description="ROI rotation in radians (clockwise on screen).")


class EulerAngles(BaseModel):
    pitch: float = Field(description="Degrees about the camera's x axis (positive: looks down).")
    yaw: float = Field(
        description="Degrees about the camera's y axis (positive: turns towards the image's "
        "right); a mirrored image negates it."
    )
    roll: float = Field(
        description="Degrees about the camera's z axis, the in-plane angle (positive: "
        "counter-clockwise on screen)."
    )


class HeadPose(BaseModel):
    matrix: list[list[float]] = Field(
        description="4x4 row-major transform from MediaPipe's canonical face model (cm) to "
        "camera space (cm; x right, y up, the camera looks down -z), as MediaPipe's face "
        "geometry pipeline estimates it (perspective camera, vertical FOV fov_degrees)."
    )
    euler_degrees: EulerAngles = Field(
        description="The rotation as R = Rz(roll) Ry(yaw) Rx(pitch), in degrees."
    )


class FrameFace(Face):
    detection: FrameDetection | None = Field(
        description="The detection this face was found from; null when it was tracked from "
        "the previous frame's landmarks."
    )
    roi: FrameRoi = Field(description="The rotated square the landmark model saw.")
    face_id: int | None = Field(
        None,
        description="Tracking sessions: the same integer while the face is tracked, a new one "
        "when a face is found again after being lost. Null on /v1/frame.",
    )
    pose: HeadPose | None = Field(
        None, description="Head pose from the landmarks; null when they give none."
    )
    gaze: Gaze | None = Field(
        None,
        description="Gaze per eye in the pose's camera frame, from the iris landmarks and an "
        "eyeball model in the canonical face (docs/gaze.md); null when there is no pose.",
    )
    iris_distance: IrisDistance | None = Field(
        None,
        description="Camera-to-iris distance per eye from the iris's apparent size (11.7 mm "
        "horizontal diameter, focal length from fov_degrees), as MediaPipe Iris; compare "
        "pose.matrix's translation (cm).",
    )


class FrameResponse(BaseModel):
    model: ModelInfo
    image: ImageSize
    faces: list[FrameFace] = Field(
        description="Every face found (at most max_faces); empty when there is none."
    )
    detector_ran: bool = Field(description="Whether the face detector ran on this frame.")
