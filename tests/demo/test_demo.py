"""The web demo at /demo/ against a real gateway process, in headless Chromium.

Webcam mode gets Chromium's fake camera playing a clip of ``grace_hopper.jpg``; photo mode is
given a three-face photo through its file input. Both check that results arrive, that the
landmarks match the photo's MediaPipe goldens, and that the overlay canvas has mesh-coloured
pixels where each face is (and hardly anywhere else). Screenshots go to pytest's temporary
folder (their paths are printed; ``pytest -s`` shows them).
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.demo.conftest import DATA, Clip, DemoPage, golden_faces

LANDMARK_TOLERANCE = 0.02  # mean 2-D error / face box size; the service's parity test uses 0.01
# on the original photo, the demo's frames are re-encoded (JPEG, and Y4M 4:2:0 for the camera)
PHOTO = "dlib_2008_001322.jpg"  # three faces
MESH_PIXEL_SHARE = 0.02  # of a face box's area, at least, drawn in the mesh colour
STRAY_SHARE = 0.05  # mesh-coloured pixels outside every face box, at most, of those inside

# Counts overlay pixels of ~the mesh colour in each [x0, y0, x1, y1] box, and outside all.
COUNT_MESH_PIXELS = """([boxes, color]) => {
  const canvas = document.getElementById("overlay");
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  const inBox = boxes.map(() => 0);
  let outside = 0;
  for (let y = 0; y < canvas.height; y++) {
    for (let x = 0; x < canvas.width; x++) {
      const i = (y * canvas.width + x) * 4;
      if (data[i + 3] < 40) continue;
      if (Math.abs(data[i] - color[0]) > 24 || Math.abs(data[i + 1] - color[1]) > 24 ||
          Math.abs(data[i + 2] - color[2]) > 24) continue;
      const hit = boxes.findIndex(([x0, y0, x1, y1]) => x >= x0 && x <= x1 && y >= y0 && y <= y1);
      if (hit < 0) outside++; else inBox[hit]++;
    }
  }
  return {inBox, outside, width: canvas.width, height: canvas.height};
}"""


def _box(points: np.ndarray, margin: float = 0.05) -> list[float]:
    low, high = points[:, :2].min(axis=0), points[:, :2].max(axis=0)
    pad = (high - low) * margin
    return [*(low - pad).tolist(), *(high + pad).tolist()]


def _error(got: np.ndarray, want: np.ndarray) -> float:
    """Mean 2-D landmark distance as a fraction of the expected face's box size."""
    size = float(np.ptp(want[:, :2], axis=0).max())
    return float(np.linalg.norm(got[:, :2] - want[:, :2], axis=1).mean()) / size


def _face_landmarks(response: dict[str, Any]) -> list[np.ndarray]:
    return [np.asarray(f["landmarks"]) for f in response["faces"] if f["landmarks"] is not None]


def _check_overlay(demo: DemoPage, expected: list[np.ndarray]) -> None:
    state = demo.state()
    boxes = [_box(face) for face in expected]
    counts = demo.page.evaluate(COUNT_MESH_PIXELS, [boxes, state["colors"]["mesh"]])
    response = state["lastResponse"]
    assert (counts["width"], counts["height"]) == (
        response["image"]["width"],
        response["image"]["height"],
    )
    for box, drawn in zip(boxes, counts["inBox"], strict=True):
        area = (box[2] - box[0]) * (box[3] - box[1])
        assert drawn >= MESH_PIXEL_SHARE * area, (box, drawn, area)
    assert counts["outside"] <= STRAY_SHARE * sum(counts["inBox"]), counts


def _screenshot(demo: DemoPage, folder: Path, name: str) -> Path:
    path = folder / name
    demo.page.locator("main").screenshot(path=str(path))
    assert path.stat().st_size > 0
    print(f"screenshot: {path}")
    return path


def _no_errors(demo: DemoPage) -> None:
    assert demo.console_errors == []
    assert demo.state()["errors"] == []


@pytest.fixture(scope="module")
def server(live_server: Any) -> Any:
    return live_server({})


def test_static_files_are_served_from_the_gateway(server: Any) -> None:
    client = server.client()
    assert client.get("/demo").status_code in (307, 308)  # -> /demo/
    page = client.get("/demo/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Content-Security-Policy" in page.text and "default-src 'self'" in page.text
    # Nothing comes from another origin: every src/href is relative.
    assert not re.findall(r'(?:src|href)="(?:https?:)?//', page.text)
    script = client.get("/demo/demo.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    mesh = client.get("/demo/mesh.json")
    assert mesh.status_code == 200, "run `make demo-assets`"
    topology = mesh.json()
    assert len(topology["triangles"]) > 800 and topology["points"] == 478
    assert client.get("/demo/missing.js").status_code == 404


def test_demo_can_be_turned_off(live_server: Any) -> None:
    server = live_server({"FACEMESH_DEMO_ENABLED": "false"})
    client = server.client()
    for path in ("/demo/", "/demo/index.html", "/demo/demo.js"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert set(response.json()["error"]) == {"code", "message"}
    assert client.get("/readyz").status_code == 200  # the API itself is still served


def test_webcam_mode_streams_and_draws_the_mesh(
    server: Any, demo_page: DemoPage, clip: Clip, tmp_path: Path
) -> None:
    page = demo_page.page
    page.goto(f"{server.base_url}/demo/")
    page.wait_for_function("() => window.facemeshDemo.meshLoaded")
    page.click("#start")
    page.wait_for_function("() => window.facemeshDemo.framesReceived >= 2")
    first = demo_page.state()["framesReceived"]
    page.wait_for_function(f"() => window.facemeshDemo.framesReceived >= {first + 3}")
    # One frame in flight at most: sampled in the page, many times while streaming.
    in_flight = page.evaluate(
        """async () => {
          const seen = new Set();
          for (let i = 0; i < 50; i++) {
            const s = window.facemeshDemo;
            seen.add(s.framesSent - s.framesReceived);
            await new Promise((r) => setTimeout(r, 5));
          }
          return [...seen];
        }"""
    )
    assert set(in_flight) <= {0, 1}, in_flight

    state = demo_page.state()
    response = state["lastResponse"]
    assert response["image"] == {"width": 640, "height": 480}  # the clip's frames
    (want,) = [clip.placement.apply(face) for face in golden_faces(clip.photo)]
    assert len(response["faces"]) == 1
    got = np.asarray(response["faces"][0]["landmarks"])
    assert got.shape == (478, 3)
    error = _error(got, want)
    print(f"webcam: mean landmark error {error:.3%} of the face box")
    assert error <= LANDMARK_TOLERANCE
    assert response["faces"][0]["regions"]["lips"]["affine"]
    _check_overlay(demo_page, [want])
    assert state["fps"] is not None and state["fps"] > 0
    assert state["latencyMs"] is not None and state["latencyMs"] > 0
    assert page.inner_text("#stat-latency").endswith(" ms")
    _screenshot(demo_page, tmp_path, "demo-webcam.png")

    page.click("#stop")
    stopped = demo_page.state()["framesReceived"]
    page.wait_for_timeout(500)
    assert demo_page.state()["framesReceived"] <= stopped + 1  # the one in flight, at most
    _no_errors(demo_page)


def test_photo_mode_draws_every_face(server: Any, demo_page: DemoPage, tmp_path: Path) -> None:
    page = demo_page.page
    page.goto(f"{server.base_url}/demo/")
    page.wait_for_function("() => window.facemeshDemo.meshLoaded")
    page.click("#tab-photo")
    page.fill("#max-faces", "16")
    page.set_input_files("#photo-file", str(DATA / "frames" / PHOTO))
    page.wait_for_function("() => window.facemeshDemo.framesReceived >= 1")

    response = demo_page.state()["lastResponse"]
    expected = golden_faces(PHOTO)
    assert response["image"] == {"width": 500, "height": 375}
    found = _face_landmarks(response)
    assert len(found) == len(expected) == 3
    errors = [min(_error(got, want) for got in found) for want in expected]
    print(f"photo: mean landmark errors {', '.join(f'{e:.3%}' for e in errors)} of the face box")
    assert max(errors) <= LANDMARK_TOLERANCE
    _check_overlay(demo_page, expected)
    assert page.inner_text("#stat-faces") == "3"
    _screenshot(demo_page, tmp_path, "demo-photo.png")
    _no_errors(demo_page)


# Drops a File built from base64 bytes on the picture area, as a drag from the desktop does.
DROP_FILE = """([b64, name, type]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, {type}));
  return transfer;
}"""


def test_photo_mode_accepts_a_dropped_image(server: Any, demo_page: DemoPage) -> None:
    page = demo_page.page
    page.goto(f"{server.base_url}/demo/?mode=photo")
    page.wait_for_function("() => window.facemeshDemo.meshLoaded")
    photo = "takeo.png"
    data = base64.b64encode((DATA / "frames" / photo).read_bytes()).decode()
    transfer = page.evaluate_handle(DROP_FILE, [data, photo, "image/png"])
    page.dispatch_event("#stage", "drop", {"dataTransfer": transfer})
    page.wait_for_function("() => window.facemeshDemo.framesReceived >= 1")

    response = demo_page.state()["lastResponse"]
    (want,) = golden_faces(photo)
    (got,) = _face_landmarks(response)
    assert _error(got, want) <= LANDMARK_TOLERANCE
    _check_overlay(demo_page, [want])
    assert page.is_visible("#photo") and not page.is_visible("#drop-hint")
    _no_errors(demo_page)


def test_photo_mode_reports_server_errors(server: Any, demo_page: DemoPage, tmp_path: Path) -> None:
    page = demo_page.page
    page.goto(f"{server.base_url}/demo/?mode=photo")
    bogus = tmp_path / "not-an-image.png"
    bogus.write_bytes(b"this is not a PNG")
    page.set_input_files("#photo-file", str(bogus))
    page.wait_for_function("() => window.facemeshDemo.errors.some(e => e.startsWith('422'))")
    assert "not_an_image" in page.inner_text("#status")
    assert demo_page.state()["framesReceived"] == 0


def test_api_key_is_sent_in_both_modes(live_server: Any, demo_page: DemoPage) -> None:
    server = live_server({"FACEMESH_API_KEYS": "demo-key-1"})
    page = demo_page.page
    page.goto(f"{server.base_url}/demo/")
    page.click("#start")  # no key: the server closes the stream
    page.wait_for_function("() => window.facemeshDemo.errors.length > 0")
    assert "API key" in demo_page.state()["errors"][0]

    page.fill("#api-key", "demo-key-1")
    page.click("#start")
    page.wait_for_function("() => window.facemeshDemo.framesReceived >= 2")
    page.click("#stop")

    page.click("#tab-photo")
    before = demo_page.state()["framesReceived"]
    page.set_input_files("#photo-file", str(DATA / "frames" / PHOTO))
    page.wait_for_function(f"() => window.facemeshDemo.framesReceived > {before}")
    assert demo_page.state()["lastResponse"]["image"] == {"width": 500, "height": 375}
    assert httpx.post(f"{server.base_url}/v1/frame").status_code == 401
