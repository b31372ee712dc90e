"""One rounding rule: a real frame's protobuf message carries the JSON body's numbers (as
float32), field by field."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
from PIL import Image

from service.encoders.json_body import encode, frame_body
from service.encoders.protobuf import result_message
from service.pipelines.frames import FramePipeline
from tests.service.imagekit import DATA


def _f32(values: Any) -> list[float]:
    return np.asarray(values, dtype=np.float32).ravel().tolist()


def test_protobuf_and_json_round_alike(frames: FramePipeline) -> None:
    image = np.asarray(Image.open(DATA / "frames" / "lenna.png").convert("RGB"))
    frame = frames.with_pose(frames.process(image, 4))
    assert frame.faces and frame.faces[0].pose is not None and frame.faces[0].gaze is not None
    body = orjson.loads(encode(frame_body(frame, {"name": "facemesh"})))
    message = result_message(7, frame)
    assert message.frame_index == 7 and message.width == body["image"]["width"]
    for face, out in zip(body["faces"], message.faces, strict=True):
        assert list(out.landmarks) == _f32(face["landmarks"])
        assert list(out.lips_affine) == _f32(face["regions"]["lips"]["affine"])
        assert list(out.pose.matrix) == _f32(face["pose"]["matrix"])
        assert out.pose.euler_degrees.yaw == _f32(face["pose"]["euler_degrees"]["yaw"])[0]
        assert [out.roi.center_x, out.roi.center_y] == _f32(face["roi"]["center"])
        assert out.roi.rotation == _f32(face["roi"]["rotation"])[0]
        assert list(out.gaze.combined.direction) == _f32(face["gaze"]["combined"]["direction"])
        assert list(out.head_gaze.left.direction) == _f32(face["head_gaze"]["left"]["direction"])
        assert out.iris_distance.left == _f32(face["iris_distance"]["left"])[0]
        assert list(out.detection.keypoints) == _f32(face["detection"]["keypoints"])
        assert out.detection.xmin == _f32(face["detection"]["box"][0])[0]
