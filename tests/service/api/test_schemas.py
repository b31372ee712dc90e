"""``service/api/schemas.py``: the HTTP shapes accept what the gateway writes and refuse what
breaks the documented contract (a client generated from the OpenAPI document relies on it)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from service.api import schemas

FACE = {
    "image": {"width": 192, "height": 192},
    "score": 0.9,
    "landmarks": [[1.0, 2.0, 3.0]] * 478,
    "regions": None,
}
MODEL = {"name": "facemesh", "version": "1", "backend": "openvino"}


def test_error_responses_document_each_status_with_the_error_envelope() -> None:
    documented = schemas.error_responses({413: "too large", 503: "busy"})
    assert documented == {
        413: {"model": schemas.ErrorResponse, "description": "too large"},
        503: {"model": schemas.ErrorResponse, "description": "busy"},
    }


def test_the_error_envelope_needs_a_code_and_a_message() -> None:
    body = {"error": {"code": "image_too_large", "message": "over 16000000 pixels"}}
    assert schemas.ErrorResponse.model_validate(body).error.code == "image_too_large"
    with pytest.raises(ValidationError):
        schemas.ErrorResponse.model_validate({"error": {"message": "no code"}})


def test_a_face_has_three_coordinates_per_landmark_or_none() -> None:
    response = schemas.FacesResponse.model_validate({"model": MODEL, "faces": [FACE]})
    assert response.faces[0].landmarks is not None and len(response.faces[0].landmarks) == 478
    assert response.model.pipeline == "attention"  # the default pipeline name
    below = {**FACE, "score": 0.1, "landmarks": None}
    assert schemas.FacesResponse.model_validate({"model": MODEL, "faces": [below]})
    with pytest.raises(ValidationError):
        schemas.Face.model_validate({**FACE, "landmarks": [[1.0, 2.0]] * 478})


def test_a_frame_response_states_whether_the_detector_ran() -> None:
    frame = {"model": MODEL, "image": {"width": 640, "height": 480}, "faces": []}
    with pytest.raises(ValidationError):
        schemas.FrameResponse.model_validate(frame)
    parsed = schemas.FrameResponse.model_validate({**frame, "detector_ran": True})
    assert parsed.detector_ran and parsed.faces == []
    required = schemas.FrameResponse.model_json_schema()["required"]
    assert set(required) == {"model", "image", "faces", "detector_ran"}
