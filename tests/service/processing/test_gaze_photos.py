"""Gaze on real photos through the real frame pipeline (model, detector, pose): the
portraits of ``tests/data`` whose subjects look into the lens (``tools.gaze_eval``: the
calibration faces and the held-out ones), a crop holding two faces, mirrored twins, in-plane
turns, and the iris distance against the pose. Run with ``-s`` for the figures that
``docs/gaze.md`` reports (``python -m tools.gaze_eval`` prints them all)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from service.core.config import Settings
from service.inference.embedded import EmbeddedBackend
from service.inference.runtime import RuntimeOptions
from service.pipelines.frames import FramePipeline
from service.pipelines.results import FrameFace, FrameResult
from service.processing import gaze
from service.processing.face_geometry import estimate_pose
from service.processing.postprocess import postprocess
from service.processing.preprocess import preprocess
from tools import gaze_eval

DATA = Path(__file__).resolve().parents[2] / "data"
FOV = 63.0  # the service's default camera
TURNS = (-20.0, 20.0)


def _angle(a: np.ndarray, b: np.ndarray) -> float:
    return math.degrees(math.acos(max(-1.0, min(1.0, float(a @ b)))))


def _figures(errors: list[float]) -> str:
    return f"median {np.median(errors):5.1f} deg, worst {max(errors):5.1f} deg"


def _frame(frames: FramePipeline, image: np.ndarray) -> FrameResult:
    return frames.with_pose(frames.process(image, 8, None, False, None), FOV)


def _photo(name: str) -> np.ndarray:
    return np.asarray(Image.open(DATA / "frames" / name).convert("RGB"))


def _nearest(faces: list[FrameFace], x: float, y: float) -> FrameFace:
    return min(faces, key=lambda f: (f.roi.center_x - x) ** 2 + (f.roi.center_y - y) ** 2)


@pytest.fixture(scope="module")
def portraits() -> list[gaze_eval.Portrait]:
    """The faces of ``tools.gaze_eval``: 33 calibration faces, 14 held out."""
    if not gaze_eval.DETECTOR.is_file():
        pytest.skip(f"{gaze_eval.DETECTOR} missing: run `make detector-full`")
    with gaze_eval.open_pipeline() as full_range:
        found = gaze_eval.portraits(full_range)
    roles = [p.role for p in found]
    assert roles.count(gaze_eval.CALIBRATION) == 33 and roles.count(gaze_eval.HELD_OUT) == 14
    return found


def _role(portraits: list[gaze_eval.Portrait], role: str) -> list[gaze_eval.Portrait]:
    return [p for p in portraits if p.role == role]


def test_held_out_faces_have_no_pitch_bias(portraits: list[gaze_eval.Portrait]) -> None:
    """Faces the line of sight was not fitted on: the gaze no longer points below the camera
    (the line of sight fitted on the 14 crops alone put it 8 degrees down, median), and in
    the camera frame the re-projection onto a camera looking at the face removes the error
    that grew with the face's distance from the frame centre."""
    held = _role(portraits, gaze_eval.HELD_OUT)
    figures = {
        (name, fov): gaze_eval.Figures.of([gaze_eval.lens_error(p, sight, fov) for p in held])
        for name, sight in (("former", gaze_eval.FORMER), ("shipped", gaze.LINE_OF_SIGHT))
        for fov in (None, 63.0, 30.0)
    }
    for (name, fov), row in figures.items():
        print(f"\nheld out, {name}, {'weak perspective' if fov is None else f'FOV {fov:g}'}: {row}")
    head, camera = figures[("shipped", None)], figures[("shipped", 63.0)]
    assert figures[("former", None)].pitch > 6.0  # the bias this test guards against
    assert abs(head.pitch) < 4.0 and abs(figures[("shipped", 30.0)].pitch) < 4.0
    assert head.median < 11.5 and camera.median < 13.0 and head.worst < 30.0


def test_calibration_leave_one_photo_out(portraits: list[gaze_eval.Portrait]) -> None:
    errors = gaze_eval.leave_one_photo_out(portraits)
    figures = gaze_eval.Figures.of(errors)
    print(f"\ncalibration faces, leave-one-photo-out, weak perspective: {figures}")
    assert abs(figures.pitch) < 4.0 and abs(figures.yaw) < 4.0 and figures.median < 16.0


def test_shipped_line_of_sight_is_the_calibration_median(
    portraits: list[gaze_eval.Portrait],
) -> None:
    sight = gaze_eval.calibrated(_role(portraits, gaze_eval.CALIBRATION))
    print(
        f"\ncalibration medians: nasal yaw {sight.nasal_yaw:.2f} deg, pitch {sight.pitch:.2f} deg"
    )
    assert sight.nasal_yaw == pytest.approx(gaze.LINE_OF_SIGHT.nasal_yaw, abs=0.75)
    assert sight.pitch == pytest.approx(gaze.LINE_OF_SIGHT.pitch, abs=0.75)


def test_real_faces_look_plausible_and_a_two_face_crop_does_not(
    model_path: Path, portraits: list[gaze_eval.Portrait]
) -> None:
    """Every portrait's two lines of sight agree within ``MAX_EYES_ANGLE``; a crop that
    holds two faces (the model still scores it a face) gives eyes far apart, flagged."""
    angles = [gaze_eval.lens_error(p, gaze.LINE_OF_SIGHT).eyes_angle for p in portraits]
    image = Image.open(DATA / "frames" / "dlib_2008_002506.jpg").convert("RGB")
    crop, transform = preprocess(np.asarray(image.crop((100, 0, 320, 220))))
    model = EmbeddedBackend.open(model_path, RuntimeOptions.from_settings(Settings(device="cpu")))
    try:
        (face,) = postprocess(model.infer(crop[None]), [transform], 0.5)
    finally:
        model.close()
    two = gaze.crop_gaze(face.landmarks)
    assert two is not None
    print(
        f"\neyes' lines of sight apart: {len(angles)} portraits median "
        f"{np.median(angles):.1f}, worst {max(angles):.1f} deg; a two-face crop "
        f"{two.head.eyes_angle:.1f} deg"
    )
    assert max(angles) < gaze.MAX_EYES_ANGLE
    assert two.head.eyes_angle > gaze.MAX_EYES_ANGLE and not two.head.plausible


def _twins(
    frames: FramePipeline,
    photo: str,
    turn: Callable[[np.ndarray], np.ndarray],
    where: Callable[[float, float, int, int], tuple[float, float]],
) -> Iterator[tuple[FrameFace, FrameFace]]:
    """Each face of ``photo`` with its twin in ``turn(photo)``, found at ``where(x, y)``."""
    image = _photo(photo)
    original, twin = _frame(frames, image), _frame(frames, turn(image))
    for face in original.faces:
        x, y = where(face.roi.center_x, face.roi.center_y, original.width, original.height)
        other = _nearest(twin.faces, x, y)
        if math.hypot(other.roi.center_x - x, other.roi.center_y - y) < 0.2 * face.roi.width:
            yield face, other


PHOTOS = (
    "dlib_2008_001322.jpg",
    "dlib_2008_002506.jpg",
    "dlib_2009_004587.jpg",
    "grace_hopper.jpg",
    "lenna.png",
    "takeo.png",
)


def test_a_mirrored_photo_flips_the_sign_of_yaw(frames: FramePipeline) -> None:
    """The model is not exactly mirror-symmetric, so the twins differ by landmark noise; the
    combined gaze's yaw changes sign wherever it is beyond that noise (3 degrees)."""
    sums, pitches, combined = [], [], []
    for photo in PHOTOS:
        for face, twin in _twins(
            frames,
            photo,
            lambda a: np.ascontiguousarray(a[:, ::-1]),
            lambda x, y, w, h: (w - x, y),
        ):
            assert face.gaze is not None and twin.gaze is not None
            assert face.gaze.camera is not None and twin.gaze.camera is not None
            a, b = face.gaze.head, twin.gaze.head
            # The left eye's twin is the mirrored right eye.
            for ray, mirrored in ((a.left, b.right), (a.right, b.left), (a.combined, b.combined)):
                sums.append(abs(ray.yaw + mirrored.yaw))
                pitches.append(abs(ray.pitch - mirrored.pitch))
            combined += [
                (a.combined.yaw, b.combined.yaw),
                (face.gaze.camera.combined.yaw, twin.gaze.camera.combined.yaw),
            ]
    clear = [(y, m) for y, m in combined if min(abs(y), abs(m)) >= 3.0]
    yaws, twins = np.array(combined).T
    slope = float(np.polyfit(yaws, twins, 1)[0])
    correlation = float(np.corrcoef(yaws, twins)[0, 1])
    print(
        f"\nmirrored twins, {len(pitches)} head-frame rays: |yaw + mirrored yaw| median "
        f"{np.median(sums):.2f}, worst {max(sums):.2f} deg; |pitch - mirrored pitch| median "
        f"{np.median(pitches):.2f}, worst {max(pitches):.2f} deg; {len(combined)} combined "
        f"yaws (head and camera frame): mirrored = {slope:.2f} x original (r = "
        f"{correlation:.3f}), the {len(clear)} beyond 3 deg in both twins all change sign"
    )
    assert len(pitches) >= 3 * 8 and len(clear) >= 12
    assert all(np.sign(y) == -np.sign(m) for y, m in clear)
    assert -1.2 < slope < -0.8 and correlation < -0.9
    assert np.median(sums) < 4.0 and np.median(pitches) < 3.0


def _turned(degrees: float) -> Callable[[np.ndarray], np.ndarray]:
    def turn(image: np.ndarray) -> np.ndarray:
        pil = Image.fromarray(image).rotate(degrees, resample=Image.Resampling.BICUBIC)
        return np.asarray(pil)

    return turn


def _turned_point(degrees: float) -> Callable[[float, float, int, int], tuple[float, float]]:
    def where(x: float, y: float, w: int, h: int) -> tuple[float, float]:
        # PIL turns counter-clockwise on screen about the image centre.
        a = math.radians(degrees)
        dx, dy = x - w / 2, y - h / 2
        return w / 2 + dx * math.cos(a) + dy * math.sin(a), h / 2 - dx * math.sin(
            a
        ) + dy * math.cos(a)

    return where


def test_in_plane_turns_keep_the_gaze_relative_to_the_head(frames: FramePipeline) -> None:
    changes = []
    for degrees in TURNS:
        for photo in PHOTOS:
            for face, twin in _twins(frames, photo, _turned(degrees), _turned_point(degrees)):
                assert face.gaze is not None and twin.gaze is not None
                assert face.pose is not None and twin.pose is not None
                assert twin.pose.roll - face.pose.roll == pytest.approx(degrees, abs=3.0)
                changes.append(
                    _angle(face.gaze.head.combined.direction, twin.gaze.head.combined.direction)
                )
    print(
        f"\nin-plane turns of {TURNS} deg, {len(changes)} faces: head-relative combined "
        f"gaze moved {_figures(changes)}"
    )
    assert len(changes) >= 2 * 8
    assert np.median(changes) < 5.0 and max(changes) < 12.0


def test_iris_distance_agrees_with_the_pose(portraits: list[gaze_eval.Portrait]) -> None:
    """The iris's size (11.7 mm) against the face's (the canonical face fitted by the pose):
    both are population priors, so they agree only as well as a face matches both. The 14
    faces of the upright crops (the group photos' irises are 2 to 4 px)."""
    ratios = []
    crops = [p for p in portraits if p.role == gaze_eval.CALIBRATION and "_face" in p.name]
    assert len(crops) == 14
    for p in crops:
        pose = estimate_pose(p.landmarks, p.width, p.height, FOV)
        distance = gaze.iris_distance(p.landmarks, p.width, p.height, FOV)
        matrix = pose.matrix
        scale = float(np.cbrt(np.linalg.det(matrix[:3, :3])))
        for eye, centre in zip(
            (distance.left, distance.right), gaze.eyeball_centres(), strict=True
        ):
            iris = centre + np.array([0.0, 0.0, gaze.IRIS_PLANE_CM])
            posed = matrix[:3, :3] @ iris + matrix[:3, 3]
            ratios.append(eye / float(np.linalg.norm(posed)))
        assert scale == pytest.approx(1.0, abs=0.05)
    errors = [abs(r - 1.0) for r in ratios]
    print(
        f"\niris distance / pose distance to the eye, {len(ratios)} eyes: median ratio "
        f"{np.median(ratios):.3f}, range {min(ratios):.3f} .. {max(ratios):.3f}, median "
        f"|error| {np.median(errors):.1%}"
    )
    assert 0.85 < np.median(ratios) < 1.15
    assert np.median(errors) < 0.15
