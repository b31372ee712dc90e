"""Pipeline results -> the gRPC tracking stream's ``FrameResult`` messages (frame pixels,
flattened float arrays), rounded by the same rule as JSON (``rounding``)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from service.encoders.rounding import (
    AFFINE_DECIMALS,
    BLENDSHAPE_DECIMALS,
    COORD_DECIMALS,
    GAZE_DECIMALS,
    POSE_DECIMALS,
    rounded,
    rounded_float,
)
from service.pipelines.results import Fields, FrameResult, wants
from service.processing.gaze import EyesGaze, GazeRay
from service.processing.postprocess import Region
from service.tracking import tracking_pb2


def _floats(array: np.ndarray | None, decimals: int) -> list[float]:
    return [] if array is None else rounded(array, decimals).astype(np.float32).ravel().tolist()


def _affine(regions: Mapping[str, Region], name: str) -> list[float]:
    return _floats(regions[name].affine if regions else None, AFFINE_DECIMALS)


def _gaze_message(eyes: EyesGaze) -> tracking_pb2.Gaze:
    def ray(gaze: GazeRay) -> tracking_pb2.GazeRay:
        return tracking_pb2.GazeRay(
            direction=_floats(gaze.direction, GAZE_DECIMALS),
            yaw=rounded_float(gaze.yaw, GAZE_DECIMALS),
            pitch=rounded_float(gaze.pitch, GAZE_DECIMALS),
            eyeball_center=_floats(gaze.origin, GAZE_DECIMALS),
        )

    return tracking_pb2.Gaze(
        left=ray(eyes.left), right=ray(eyes.right), combined=ray(eyes.combined)
    )


def result_message(
    index: int, frame: FrameResult, fields: Fields | None = None
) -> tracking_pb2.FrameResult:
    """``FrameResult`` -> protobuf message; ``index``: the frame's place in its stream. Each
    face limited to ``fields`` (None: every part) leaves the others unset (empty)."""
    message = tracking_pb2.FrameResult(
        frame_index=index,
        width=frame.width,
        height=frame.height,
        detector_ran=frame.detector_ran,
    )
    for face in frame.faces:
        result = face.result
        out = message.faces.add(score=result.score)
        if wants(fields, "landmarks"):
            out.landmarks.extend(_floats(result.landmarks, COORD_DECIMALS))
        if wants(fields, "regions"):
            regions = result.regions or {}
            out.lips_affine.extend(_affine(regions, "lips"))
            out.left_eye_affine.extend(_affine(regions, "left_eye"))
            out.right_eye_affine.extend(_affine(regions, "right_eye"))
        roi = face.roi
        if wants(fields, "roi"):
            out.roi.CopyFrom(
                tracking_pb2.Roi(
                    center_x=rounded_float(roi.center_x, COORD_DECIMALS),
                    center_y=rounded_float(roi.center_y, COORD_DECIMALS),
                    size=rounded_float(roi.width, COORD_DECIMALS),
                    rotation=rounded_float(roi.rotation, AFFINE_DECIMALS),
                )
            )
        out.face_id = face.face_id or 0
        if face.pose is not None and wants(fields, "pose"):
            pose = face.pose
            out.pose.CopyFrom(
                tracking_pb2.Pose(
                    matrix=_floats(pose.matrix, POSE_DECIMALS),
                    euler_degrees=tracking_pb2.EulerAngles(
                        pitch=rounded_float(pose.pitch, POSE_DECIMALS),
                        yaw=rounded_float(pose.yaw, POSE_DECIMALS),
                        roll=rounded_float(pose.roll, POSE_DECIMALS),
                    ),
                )
            )
        if face.gaze is not None and wants(fields, "gaze"):
            if face.gaze.camera is not None:
                out.gaze.CopyFrom(_gaze_message(face.gaze.camera))
            out.head_gaze.CopyFrom(_gaze_message(face.gaze.head))
        if face.iris_distance is not None and wants(fields, "iris_distance"):
            out.iris_distance.CopyFrom(
                tracking_pb2.IrisDistance(
                    left=rounded_float(face.iris_distance.left, POSE_DECIMALS),
                    right=rounded_float(face.iris_distance.right, POSE_DECIMALS),
                )
            )
        if face.blendshapes is not None:
            out.blendshapes.extend(_floats(face.blendshapes, BLENDSHAPE_DECIMALS))
        if face.detection is not None and wants(fields, "detection"):
            box = rounded(face.detection.box, COORD_DECIMALS)
            out.detection.CopyFrom(
                tracking_pb2.Detection(
                    xmin=float(box[0]),
                    ymin=float(box[1]),
                    width=float(box[2]),
                    height=float(box[3]),
                    score=face.detection.score,
                    keypoints=_floats(face.detection.keypoints, COORD_DECIMALS),
                    quarter_turns=face.detection.quarter_turns,
                )
            )
    return message
