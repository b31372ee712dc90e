"""What the pipelines compute from landmarks besides the landmarks: a frame face's head pose
(``processing/face_geometry.py``), gaze and iris distance (``processing/gaze.py``), and a
crop's head-relative gaze. Every endpoint's result work is here; the wire encoders
(``service.encoders``) only format it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from service.pipelines.results import CropFace, Fields, FrameResult, wants
from service.processing.gaze import crop_gaze, face_iris_distance, frame_poses_and_gazes
from service.processing.postprocess import FaceResult


def with_pose(frame: FrameResult, fov_degrees: float, fields: Fields | None = None) -> FrameResult:
    """``frame`` with each face's head pose, gaze and iris distance (from the same landmarks)
    for a camera of vertical field of view ``fov_degrees``; a face whose landmarks give no
    pose keeps ``pose=None``. An answer limited to ``fields`` gets only what it names (gaze
    needs the pose)."""
    if not wants(fields, "pose", "gaze", "iris_distance"):
        return frame
    width, height = frame.width, frame.height
    # Every face's pose and its virtual camera's pose at once (array operations over them).
    landmarks = [face.result.landmarks for face in frame.faces]
    if wants(fields, "pose", "gaze"):
        pose_of, gazes = frame_poses_and_gazes(
            landmarks, width, height, fov_degrees, gaze=wants(fields, "gaze")
        )
    else:
        pose_of, gazes = [None] * len(landmarks), [None] * len(landmarks)
    faces = []
    for face, pose, gaze in zip(frame.faces, pose_of, gazes, strict=True):
        iris = (
            face_iris_distance(face.result.landmarks, width, height, fov_degrees)
            if wants(fields, "iris_distance")
            else None
        )
        faces.append(replace(face, pose=pose, gaze=gaze, iris_distance=iris))
    return replace(frame, faces=faces)


def crop_faces(results: Sequence[FaceResult]) -> list[CropFace]:
    """Each crop's result with its head-relative gaze (``processing.gaze.crop_gaze``)."""
    return [CropFace(result, crop_gaze(result.landmarks)) for result in results]
