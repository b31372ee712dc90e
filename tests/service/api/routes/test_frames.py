"""``service/api/routes/frames.py``: ``POST /v1/frame`` on the real app and models: a frame's
faces as a ``FrameResponse``, the camera's field of view taken from the query within the
Settings range, and the route's documentation of its defaults."""

from __future__ import annotations

from fastapi.testclient import TestClient

from service.api import schemas
from service.core.config import CAMERA_FOV_DEGREES_MAX, CAMERA_FOV_DEGREES_MIN, Settings
from tests.service.imagekit import DATA

FRAME = (DATA / "frames" / "dlib_2008_001009.jpg").read_bytes()
HEADERS = {"Content-Type": "image/jpeg"}


def _post(client: TestClient, query: str = "") -> dict:  # type: ignore[type-arg]
    response = client.post(f"/v1/frame{query}", content=FRAME, headers=HEADERS)
    assert response.status_code == 200, response.text
    schemas.FrameResponse.model_validate_json(response.content)
    return response.json()  # type: ignore[no-any-return]


def test_a_frame_gets_its_faces_with_a_pose(test_client: TestClient) -> None:
    body = _post(test_client)
    assert body["detector_ran"] and body["faces"]
    assert all(face["pose"] is not None for face in body["faces"])
    assert len(_post(test_client, "?max_faces=1")["faces"]) == 1


def test_the_field_of_view_is_the_requests_within_the_settings_range(
    test_client: TestClient,
) -> None:
    default = _post(test_client)["faces"][0]["pose"]["matrix"]
    setting = _post(test_client, f"?fov_degrees={Settings().camera_fov_degrees:g}")
    assert setting["faces"][0]["pose"]["matrix"] == default
    wide = _post(test_client, "?fov_degrees=90")["faces"][0]["pose"]["matrix"]
    assert wide[2][3] > default[2][3]  # a wider lens: the same face is nearer (z < 0)
    for fov in (CAMERA_FOV_DEGREES_MIN / 2, CAMERA_FOV_DEGREES_MAX + 1):
        refused = test_client.post(f"/v1/frame?fov_degrees={fov}", content=FRAME, headers=HEADERS)
        assert refused.status_code == 422
        assert refused.json()["error"]["code"] == "validation_error"


def test_the_documented_default_field_of_view_is_the_settings(test_client: TestClient) -> None:
    operation = test_client.get("/openapi.json").json()["paths"]["/v1/frame"]["post"]
    fov = next(p for p in operation["parameters"] if p["name"] == "fov_degrees")
    default = Settings.model_fields["camera_fov_degrees"].default
    assert f"({default:g}, MediaPipe's)" in fov["description"]
    assert fov["schema"]["anyOf"][0]["minimum"] == CAMERA_FOV_DEGREES_MIN
