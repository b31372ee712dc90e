"""Gaze accuracy on real portraits whose subjects look into the lens: the faces the line of
sight is calibrated on, and held-out faces it never saw.

    .venv/bin/python -m tools.gaze_eval

Every face is found by the real frame pipeline (OpenVINO on CPU, MediaPipe's full-range
detector, which finds the small faces of group photos too). The error of a face is the angle
between its combined gaze and the direction to the camera: in the head's frame under weak
perspective (the crops' model: no field of view assumed), and in the camera frame of a
perspective camera of 63 degrees (the service's default) and 30 degrees (these photos were not
taken with the default camera, and where the lens was is unknown). Signed errors: pitch
positive when the gaze points below the camera, yaw positive when it points right of it.

Faces (``tests/data/README.md`` has the photos' provenance):

- calibration: the 14 upright face crops of ``tests/data/crops`` found in their photos, and
  the faces of three more group photos of the same source (``tests/data/gaze/dlib_*``);
- held out: the other faces of ``tests/data/frames`` whose subjects look into the lens
  (``dlib_2008_002079``: 5 faces besides the calibration one, ``dlib_2008_002470``: 6) and
  three official portraits (``tests/data/gaze/whitehouse_*``). ``t1.jpg`` is left out: its
  subjects look at the cards and at each other.

Prints the figures of ``docs/gaze.md`` ("Evaluation"); ``tests/service/processing/
test_gaze_photos.py`` holds the shipped model to them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from service.contract import FULL_RANGE
from service.core.config import Settings
from service.inference.detector import EmbeddedDetector
from service.inference.embedded import EmbeddedBackend
from service.inference.runtime import RuntimeOptions
from service.lifespan import standalone_frame_pipeline
from service.pipelines.frames import FramePipeline
from service.processing import gaze
from service.processing.face_geometry import (
    canonical_face,
    estimate_pose,
    solve_weighted_orthogonal,
)

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
MODEL = REPO / "model_repository" / "facemesh" / "1" / "model.onnx"
DETECTOR = REPO / "model_repository" / "face_detector_full_range" / "1" / "model.onnx"
CALIBRATION, HELD_OUT = "calibration", "held out"
# Photo -> (role of its faces, how many faces the pipeline finds there). In the photos of the
# calibration crops, a face is a calibration face when it matches a crop, else held out.
PHOTOS: dict[str, tuple[str, int]] = {
    "frames/dlib_2008_001009.jpg": (CALIBRATION, 2),
    "frames/dlib_2008_001322.jpg": (CALIBRATION, 3),
    "frames/dlib_2008_002079.jpg": (CALIBRATION, 6),
    "frames/dlib_2008_002506.jpg": (CALIBRATION, 3),
    "frames/dlib_2009_004587.jpg": (CALIBRATION, 2),
    "frames/grace_hopper.jpg": (CALIBRATION, 1),
    "frames/lenna.png": (CALIBRATION, 1),
    "frames/takeo.png": (CALIBRATION, 1),
    "gaze/dlib_2007_007763.jpg": (CALIBRATION, 6),
    "gaze/dlib_2008_004176.jpg": (CALIBRATION, 7),
    "gaze/dlib_2008_007676.jpg": (CALIBRATION, 6),
    "frames/dlib_2008_002470.jpg": (HELD_OUT, 6),
    "gaze/whitehouse_biden_1.jpg": (HELD_OUT, 1),
    "gaze/whitehouse_biden_2.jpg": (HELD_OUT, 1),
    "gaze/whitehouse_obama.jpg": (HELD_OUT, 1),
}
# The line of sight shipped before the held-out evaluation (fitted on the 14 crops only); the
# "former" rows use it with the current code.
FORMER = gaze.LineOfSight(nasal_yaw=10.0, pitch=10.5)


@dataclass(frozen=True)
class Portrait:
    name: str
    photo: str
    role: str
    landmarks: np.ndarray  # float [478, 3], frame pixels
    width: int
    height: int

    @property
    def iris_px(self) -> float:
        """The mean horizontal iris diameter of both eyes, pixels."""
        points = self.landmarks
        return float(
            np.mean(
                [np.linalg.norm(points[a, :2] - points[b, :2]) for a, b in ((469, 471), (474, 476))]
            )
        )


@dataclass(frozen=True)
class Error:
    """One face's combined gaze against the direction to the camera, degrees."""

    angle: float
    yaw: float  # gaze minus camera direction: positive, the gaze points right of the camera
    pitch: float  # positive: the gaze points below the camera
    eyes_angle: float


@dataclass(frozen=True)
class Figures:
    count: int
    median: float
    mean: float
    worst: float
    pitch: float  # median signed pitch error
    yaw: float  # median signed yaw error

    @classmethod
    def of(cls, errors: list[Error]) -> Figures:
        angles = [e.angle for e in errors]
        return cls(
            len(errors),
            float(np.median(angles)),
            float(np.mean(angles)),
            max(angles),
            float(np.median([e.pitch for e in errors])),
            float(np.median([e.yaw for e in errors])),
        )

    def __str__(self) -> str:
        return (
            f"n {self.count:2d}  median {self.median:5.1f}  mean {self.mean:5.1f}  worst "
            f"{self.worst:5.1f}  |  signed median: pitch {self.pitch:+5.1f}  yaw {self.yaw:+5.1f}"
        )


@contextmanager
def open_pipeline() -> Iterator[FramePipeline]:
    """The frame pipeline on OpenVINO (CPU) with the full-range detector."""
    settings = Settings(device="cpu", runtime="openvino", detector="full")
    options = RuntimeOptions.from_settings(settings)
    detector = EmbeddedDetector.open(DETECTOR, options, FULL_RANGE)
    with standalone_frame_pipeline(
        EmbeddedBackend.open(MODEL, options), detector, settings
    ) as pipeline:
        yield pipeline


def _crop_centres() -> dict[str, list[tuple[str, float, float, float]]]:
    """Photo file -> (crop name, centre x, centre y, side) of its upright calibration crops."""
    centres: dict[str, list[tuple[str, float, float, float]]] = {}
    for crop in json.loads((DATA / "crops_goldens.json").read_text()):
        if "_rot" not in crop["file"]:
            left, top, side = crop["box_xy_side"]
            centres.setdefault(crop["source"], []).append(
                (crop["file"][: -len(".png")], left + side / 2, top + side / 2, side)
            )
    return centres


def portraits(pipeline: FramePipeline) -> list[Portrait]:
    """Every face of ``PHOTOS``, named and given its role."""
    crops = _crop_centres()
    found = []
    for photo, (role, count) in PHOTOS.items():
        image = np.asarray(Image.open(DATA / photo).convert("RGB"))
        frame = pipeline.process(image, 16, None, False, None)
        faces = [f.result.landmarks for f in frame.faces if f.result.landmarks is not None]
        if len(faces) != count:
            raise RuntimeError(f"{photo}: {len(faces)} faces, expected {count}")
        stem = Path(photo).stem
        for index, landmarks in enumerate(sorted(faces, key=lambda f: float(f[:468, 0].mean()))):
            x, y = landmarks[:468, :2].mean(axis=0)
            name, face_role = f"{stem}_{index}", role
            mine = crops.get(Path(photo).name, [])
            matches = [c for c in mine if math.hypot(c[1] - x, c[2] - y) < 0.3 * c[3]]
            if matches:
                name, face_role = matches[0][0], CALIBRATION
            elif mine:  # a face of a calibration photo that no crop holds
                face_role = HELD_OUT
            found.append(Portrait(name, photo, face_role, landmarks, frame.width, frame.height))
    return found


def _angle(a: np.ndarray, b: np.ndarray) -> float:
    return math.degrees(math.acos(max(-1.0, min(1.0, float(a @ b)))))


def weak_view(landmarks: np.ndarray) -> np.ndarray:
    """The direction to a distant camera in the head's frame (the weak-perspective fit)."""
    face = canonical_face()
    cloud = (landmarks[: face.points.shape[1], :3] * np.array([1.0, -1.0, -1.0])).T
    linear = solve_weighted_orthogonal(face.points, cloud, face.weights)[:3, :3]
    rotation = linear / np.cbrt(np.linalg.det(linear))
    view: np.ndarray = rotation.T @ np.array([0.0, 0.0, 1.0])
    return view


def lens_error(p: Portrait, sight: gaze.LineOfSight, fov: float | None = None) -> Error:
    """The face's error in the head frame (``fov`` None: weak perspective, a distant camera)
    or in the camera frame of a perspective camera of ``fov`` degrees."""
    if fov is None:
        eyes = gaze.head_gaze_orthographic(p.landmarks, sight).head
        to_camera = weak_view(p.landmarks)
        combined = eyes.combined.direction
    else:
        pose = estimate_pose(p.landmarks, p.width, p.height, fov)
        camera = gaze.gaze_from_pose(p.landmarks, pose.matrix, p.width, p.height, fov, sight).camera
        assert camera is not None and camera.combined.origin is not None
        eyes, combined = camera, camera.combined.direction
        to_camera = -camera.combined.origin / np.linalg.norm(camera.combined.origin)
    yaw, pitch = gaze.angles(combined)
    camera_yaw, camera_pitch = gaze.angles(to_camera)
    return Error(
        _angle(combined, to_camera), yaw - camera_yaw, pitch - camera_pitch, eyes.eyes_angle
    )


def calibrated(faces: list[Portrait]) -> gaze.LineOfSight:
    """The median offsets, per eye, between the optical axis and the weak-perspective
    direction to the camera (the nasal yaw signed towards each eye's nose)."""
    nasal, down = [], []
    for p in faces:
        head = gaze.head_gaze_orthographic(p.landmarks, gaze.LineOfSight(0.0, 0.0)).head
        view_yaw, view_pitch = gaze.angles(weak_view(p.landmarks))
        nasal += [view_yaw - head.left.yaw, head.right.yaw - view_yaw]
        down += [view_pitch - head.left.pitch, view_pitch - head.right.pitch]
    return gaze.LineOfSight(float(np.median(nasal)), float(np.median(down)))


def leave_one_photo_out(faces: list[Portrait], fov: float | None = None) -> list[Error]:
    """Each calibration face's error with the offsets fitted on the other photos."""
    errors = []
    calibration = [p for p in faces if p.role == CALIBRATION]
    for photo in sorted({p.photo for p in calibration}):
        sight = calibrated([p for p in calibration if p.photo != photo])
        errors += [lens_error(p, sight, fov) for p in calibration if p.photo == photo]
    return errors


MODELS: tuple[tuple[str, float | None], ...] = (
    ("head frame, weak perspective", None),
    ("camera frame, FOV 63", 63.0),
    ("camera frame, FOV 30", 30.0),
)


def main() -> None:
    with open_pipeline() as pipeline:
        faces = portraits(pipeline)
    fitted = calibrated([p for p in faces if p.role == CALIBRATION])
    print(
        f"{len(faces)} faces: {sum(p.role == CALIBRATION for p in faces)} calibration, "
        f"{sum(p.role == HELD_OUT for p in faces)} held out\n"
        f"calibration medians: nasal yaw {fitted.nasal_yaw:.2f}, pitch {fitted.pitch:.2f} deg; "
        f"shipped {gaze.LINE_OF_SIGHT}; former {FORMER}\n"
    )
    print("angle between the combined gaze and the direction to the camera, degrees:")
    for label, fov in MODELS:
        for role in (CALIBRATION, HELD_OUT):
            group = [p for p in faces if p.role == role]
            for name, sight in (("former ", FORMER), ("shipped", gaze.LINE_OF_SIGHT)):
                figures = Figures.of([lens_error(p, sight, fov) for p in group])
                print(f"  {label:29s} {role:11s} {name}  {figures}")
        lopo = Figures.of(leave_one_photo_out(faces, fov))
        print(f"  {label:29s} calibration leave-one-photo-out  {lopo}")
    subsets = (
        ("14 crop faces", [p for p in faces if "_face" in p.name]),
        ("3 official portraits", [p for p in faces if "whitehouse" in p.photo]),
        (
            "11 held-out group faces",
            [p for p in faces if p.role == HELD_OUT and "whitehouse" not in p.photo],
        ),
    )
    print("\nsubsets, shipped line of sight:")
    for name, group in subsets:
        for label, fov in MODELS[:2]:
            figures = Figures.of([lens_error(p, gaze.LINE_OF_SIGHT, fov) for p in group])
            print(f"  {name:23s} {label:29s} {figures}")
    print("\nper face (shipped line of sight, head frame | camera frame FOV 63):")
    for p in faces:
        head, camera = lens_error(p, gaze.LINE_OF_SIGHT), lens_error(p, gaze.LINE_OF_SIGHT, 63.0)
        print(
            f"  {p.role:11s} {p.name:28s} iris {p.iris_px:4.1f} px  {head.angle:5.1f} (pitch "
            f"{head.pitch:+5.1f})  |  {camera.angle:5.1f} (pitch {camera.pitch:+5.1f})  eyes "
            f"{head.eyes_angle:4.1f} apart"
        )


if __name__ == "__main__":
    main()
