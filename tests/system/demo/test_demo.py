"""The web demo at /demo/ against a real gateway process, in headless Chromium.

Webcam mode gets Chromium's fake camera playing a clip of ``grace_hopper.jpg``; photo mode is
given a three-face photo through its file input. Both check that results arrive, that the
landmarks match the photo's MediaPipe goldens, and that the overlay canvas has mesh-coloured
pixels where each face is (and hardly anywhere else). Screenshots go to pytest's temporary
folder (their paths are printed; ``pytest -s`` shows them).
"""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageOps

from tests.system.demo.conftest import DATA, Clip, DemoPage, golden_faces

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


def _screenshot(demo: DemoPage, folder: Path, name: str, part: str = "main") -> Path:
    path = folder / name
    demo.page.locator(part).screenshot(path=str(path))
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
    for name in ("demo.js", "puppet.js"):
        script = client.get(f"/demo/{name}")
        assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    # puppet.js defines what demo.js uses: it is loaded first.
    assert page.text.index('src="puppet.js"') < page.text.index('src="demo.js"')
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


# ---- try-on and gaze arrows (issue 22) ------------------------------------------------------
LIP_OPACITY = 0.55
# The overlay canvas and the frame it was drawn on (PNG data URLs), with the response and
# arrows drawn: read in one go, so a frame arriving meanwhile cannot mix two frames.
READ_CANVASES = """() => ({
  overlay: document.getElementById("overlay").toDataURL("image/png"),
  frame: window.facemeshDemo.source.toDataURL("image/png"),
  response: window.facemeshDemo.lastResponse,
  arrows: window.facemeshDemo.arrows,
})"""


def _pixels(data_url: str) -> np.ndarray:
    png = base64.b64decode(data_url.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(float)


def _polygon_mask(size: tuple[int, int], rings: list[np.ndarray]) -> np.ndarray:
    """Even-odd fill of the rings (as the demo fills the lips)."""
    mask = np.zeros(size[::-1], dtype=bool)
    for ring in rings:
        layer = Image.new("1", size)
        ImageDraw.Draw(layer).polygon([tuple(p) for p in ring[:, :2]], fill=1)
        mask ^= np.asarray(layer, dtype=bool)
    return mask


def _shrink(mask: np.ndarray, pixels: int) -> np.ndarray:
    image = Image.fromarray(mask.astype(np.uint8) * 255).filter(
        ImageFilter.MinFilter(2 * pixels + 1)
    )
    return np.asarray(image) > 0


def _grow(mask: np.ndarray, pixels: int) -> np.ndarray:
    image = Image.fromarray(mask.astype(np.uint8) * 255).filter(
        ImageFilter.MaxFilter(2 * pixels + 1)
    )
    return np.asarray(image) > 0


def _check_lipstick(demo: DemoPage, colour: tuple[int, int, int]) -> dict[str, float]:
    """Inside the lips every pixel moves towards ``colour`` (alpha blend: its distance scales
    by 1 - opacity); away from the lips, eyes and arrows nothing changes."""
    topology = demo.page.evaluate("() => fetch('mesh.json').then((r) => r.json())")
    state = demo.page.evaluate(READ_CANVASES)
    overlay, frame = _pixels(state["overlay"]), _pixels(state["frame"])
    assert overlay.shape == frame.shape
    height, width = frame.shape[:2]
    (face,) = [f for f in state["response"]["faces"] if f["landmarks"] is not None][:1]
    points = np.asarray(face["landmarks"])
    paths = {k: np.asarray(v) for k, v in topology["paths"].items()}
    lips = _polygon_mask(
        (width, height), [points[paths["lips_outer"]], points[paths["lips_inner"]]]
    )
    inside = _shrink(lips, 2)
    eye_width = float(
        np.linalg.norm(
            points[paths["left_upper_lid"][0], :2] - points[paths["left_upper_lid"][-1], :2]
        )
    )
    keep_out = Image.fromarray(_grow(lips, 4))
    draw = ImageDraw.Draw(keep_out)
    for lid in ("left_upper_lid", "right_upper_lid"):  # eyeliner, wing included
        (x0, y0), (x1, y1) = points[paths[lid], :2].min(axis=0), points[paths[lid], :2].max(axis=0)
        pad = 0.5 * eye_width
        draw.rectangle([x0 - pad, y0 - pad, x1 + pad, y1 + pad], fill=1)
    for arrow in state["arrows"]:
        draw.line([tuple(arrow["from"]), tuple(arrow["to"])], fill=1, width=14)
    keep_out = np.asarray(keep_out, dtype=bool)
    box = np.zeros_like(lips)
    (bx0, by0), (bx1, by1) = (
        points[:, :2].min(axis=0).astype(int),
        points[:, :2].max(axis=0).astype(int),
    )
    box[max(by0, 0) : by1, max(bx0, 0) : bx1] = True
    outside = box & ~keep_out
    target = np.asarray(colour, dtype=float)
    before = np.linalg.norm(frame[inside] - target, axis=1)
    after = np.linalg.norm(overlay[inside] - target, axis=1)
    ratio = float(np.median(after / np.maximum(before, 1e-6)))
    moved = float(np.mean(after < before - 1.0))
    unchanged = float(np.mean(np.abs(overlay[outside] - frame[outside]).max(axis=1) <= 2))
    assert inside.sum() > 100 and outside.sum() > 2000
    assert moved > 0.97, moved
    assert ratio == pytest.approx(1 - LIP_OPACITY, abs=0.06)
    assert unchanged > 0.995, unchanged
    return {"inside": int(inside.sum()), "ratio": ratio, "moved": moved, "unchanged": unchanged}


def _turn_on_try_on(page: Any, colour: str) -> None:
    page.check("#try-on")
    page.fill("#lip-color", colour)
    page.fill("#lip-opacity", str(LIP_OPACITY))
    page.dispatch_event("#lip-opacity", "input")


def _hex(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def test_try_on_in_photo_mode_paints_only_the_lips(
    server: Any, demo_page: DemoPage, tmp_path: Path
) -> None:
    page = demo_page.page
    page.goto(f"{server.base_url}/demo/?mode=photo")
    page.wait_for_function("() => window.facemeshDemo.meshLoaded")
    page.set_input_files("#photo-file", str(DATA / "frames" / "grace_hopper.jpg"))
    page.wait_for_function("() => window.facemeshDemo.framesReceived >= 1")
    for colour in ("#1e90ff", "#c8102e"):  # the picker's change is drawn at once
        _turn_on_try_on(page, colour)
        figures = _check_lipstick(demo_page, _hex(colour))
        print(f"photo try-on {colour}: {figures}")
    _screenshot(demo_page, tmp_path, "demo-try-on.png", "#stage")  # README: docs/try-on.png
    page.uncheck("#try-on")  # back to the mesh: no frame drawn on the overlay
    assert (
        demo_page.page.evaluate(COUNT_MESH_PIXELS, [[[0, 0, 1e4, 1e4]], COLORS_MESH])["inBox"][0]
        > 0
    )
    _no_errors(demo_page)


COLORS_MESH = [64, 224, 208]


def test_try_on_in_webcam_mode_paints_every_frame(
    server: Any, demo_page: DemoPage, clip: Clip
) -> None:
    page = demo_page.page
    page.goto(f"{server.base_url}/demo/")
    page.wait_for_function("() => window.facemeshDemo.meshLoaded")
    _turn_on_try_on(page, "#b0306a")
    page.click("#start")
    page.wait_for_function("() => window.facemeshDemo.framesReceived >= 2")
    first = demo_page.state()["framesReceived"]
    figures = _check_lipstick(demo_page, _hex("#b0306a"))
    page.wait_for_function(f"() => window.facemeshDemo.framesReceived >= {first + 2}")
    again = _check_lipstick(demo_page, _hex("#b0306a"))
    print(f"webcam try-on: {figures}, two frames later {again}")
    page.click("#stop")
    _no_errors(demo_page)


def _arrows(demo: DemoPage, photo: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    before = demo.state()["framesReceived"]
    demo.page.set_input_files("#photo-file", str(photo))
    demo.page.wait_for_function(f"() => window.facemeshDemo.framesReceived > {before}")
    state = demo.state()
    return state["arrows"], state["lastResponse"]


def test_gaze_arrows_follow_a_mirrored_twin(
    server: Any, demo_page: DemoPage, tmp_path: Path
) -> None:
    photo = DATA / "frames" / "lenna.png"
    twin = tmp_path / "lenna-mirrored.png"
    ImageOps.mirror(Image.open(photo).convert("RGB")).save(twin)
    page = demo_page.page
    page.goto(f"{server.base_url}/demo/?mode=photo")
    page.wait_for_function("() => window.facemeshDemo.meshLoaded")
    arrows, response = _arrows(demo_page, photo)
    mirrored, _ = _arrows(demo_page, twin)
    width = response["image"]["width"]
    assert len(arrows) == len(mirrored) == 2
    (face,) = response["faces"]
    points = np.asarray(face["landmarks"])
    eye_width = float(np.linalg.norm(points[33, :2] - points[133, :2]))
    by_eye = {a["eye"]: a for a in mirrored}
    errors = []
    for arrow in arrows:
        other = by_eye["right" if arrow["eye"] == "left" else "left"]  # eyes swap in a mirror
        start, tip = np.asarray(arrow["from"]), np.asarray(arrow["to"])
        start_m, tip_m = np.asarray(other["from"]), np.asarray(other["to"])
        assert start_m == pytest.approx([width - start[0], start[1]], abs=1.5)
        vector, vector_m = tip - start, tip_m - start_m
        errors.append(float(np.linalg.norm(vector_m - [-vector[0], vector[1]])) / eye_width)
        # The arrow is on the canvas: gaze-coloured pixels around its tip.
        box = [tip_m[0] - 4, tip_m[1] - 4, tip_m[0] + 4, tip_m[1] + 4]
        counts = page.evaluate(COUNT_MESH_PIXELS, [[box], demo_page.state()["colors"]["gaze"]])
        assert counts["inBox"][0] >= 3, counts
    print(f"gaze arrows vs the mirrored twin's: {', '.join(f'{e:.2f}' for e in errors)} eye widths")
    assert max(errors) < 0.45
    _no_errors(demo_page)
