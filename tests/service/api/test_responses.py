"""``service/api/responses.py``: real pipeline results become JSON responses that validate
against ``schemas.FacesResponse`` / ``schemas.FrameResponse``, rounded by the one rule, with
the ``model`` block from the settings."""

from __future__ import annotations

import json

import numpy as np
import orjson

from service.api import schemas
from service.api.responses import faces_response, frame_json, frame_response, model_info
from service.core.config import Settings
from service.encoders.rounding import COORD_DECIMALS
from service.pipelines.frames import FramePipeline
from service.pipelines.measures import crop_faces
from service.processing.decode import decode_image
from service.processing.postprocess import FaceResult
from tests.service.imagekit import DATA

SETTINGS = Settings(model_name="facemesh-test", model_version="7")
MODEL = model_info(SETTINGS, "openvino", "attention")


def _decimals_at_most(values: list[float], decimals: int) -> bool:
    return all(round(value, decimals) == value for value in values)


def test_the_model_block_names_the_settings_model_and_what_ran_it() -> None:
    assert (
        schemas.ModelInfo(
            name="facemesh-test", version="7", backend="openvino", pipeline="attention"
        )
        == MODEL
    )


def test_a_frame_response_is_a_valid_rounded_frame_response(frames: FramePipeline) -> None:
    image = decode_image(
        (DATA / "frames" / "dlib_2008_001009.jpg").read_bytes(), min_side=32, max_pixels=10**8
    )
    result = frames.with_pose(frames.process(image, 4))
    assert result.faces, "the golden frame has faces"
    response = frame_response(result, MODEL)
    assert response.media_type == "application/json"
    assert response.body == frame_json(result, MODEL)
    parsed = schemas.FrameResponse.model_validate_json(response.body)
    assert parsed.model == MODEL
    assert (parsed.image.width, parsed.image.height) == (image.shape[1], image.shape[0])
    body = json.loads(response.body)
    landmarks = body["faces"][0]["landmarks"]
    assert len(landmarks) == len(result.faces[0].result.landmarks)
    flat = [value for point in landmarks for value in point]
    assert _decimals_at_most(flat, COORD_DECIMALS)
    np.testing.assert_allclose(
        np.array(landmarks), result.faces[0].result.landmarks, atol=0.5 * 10**-COORD_DECIMALS
    )


def test_crops_without_a_face_answer_null_landmarks() -> None:
    below = FaceResult(width=100, height=80, score=0.1, landmarks=None, regions=None)
    response = faces_response(crop_faces([below, below]), MODEL)
    parsed = schemas.FacesResponse.model_validate_json(response.body)
    assert [face.landmarks for face in parsed.faces] == [None, None]
    assert orjson.loads(response.body)["faces"][0]["image"] == {"width": 100, "height": 80}
