"""The demo's puppet against a real gateway, in headless Chromium: a face drawn from the
blendshape scores alone, and the strongest scores as bars.

The faces: ``grace_hopper.jpg`` (neutral) and variants of it made by ``expressions.py`` (eyes
shut, one eye shut, mouth open). Photo mode posts each to ``/v1/frame?blendshapes=true``; this
module's fake camera plays the neutral face, then the shut eyes, then the open mouth, in a loop,
over the ``/v1/track`` WebSocket. Each check compares a variant with the neutral face: the
right scores move, the puppet's pose and the shapes it drew follow, and the canvas shows it
(eye-white and mouth pixels counted).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from service.contract import BLENDSHAPE_NAMES
from tests.system.demo.clip import fit_photo, write_y4m_segments
from tests.system.demo.conftest import DATA, Clip, DemoPage, golden_faces
from tests.system.demo.expressions import close_eyes, open_mouth

NEUTRAL = "grace_hopper.jpg"
MOVED = 0.2  # a score the expression drives rises by this much over the neutral face, at least
STILL = 0.15  # a score it should not drive moves by this much, at most
CLIP_SEGMENT_FRAMES = 15  # one second of each face in the webcam clip

# Pixels of the puppet canvas within ``tolerance`` of ``color`` (CSS hex) in each box
# [x0, y0, x1, y1] (canvas pixels).
COUNT_PUPPET_PIXELS = """([boxes, color, tolerance]) => {
  const canvas = document.getElementById("puppet");
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  const want = [1, 3, 5].map((i) => Number.parseInt(color.slice(i, i + 2), 16));
  return boxes.map(([x0, y0, x1, y1]) => {
    let n = 0;
    for (let y = Math.max(0, Math.floor(y0)); y < Math.min(canvas.height, y1); y++) {
      for (let x = Math.max(0, Math.floor(x0)); x < Math.min(canvas.width, x1); x++) {
        const i = (y * canvas.width + x) * 4;
        if (want.every((c, k) => Math.abs(data[i + k] - c) <= tolerance)) n++;
      }
    }
    return n;
  });
}"""

# The puppet panel's bars as shown: [[name, value text], ...].
READ_BARS = """() => [...document.querySelectorAll("#bars li")].map((li) => [
  li.querySelector(".name").textContent, li.querySelector(".value").textContent,
])"""


def _expression_images() -> dict[str, Image.Image]:
    photo = Image.open(DATA / "frames" / NEUTRAL).convert("RGB")
    (landmarks,) = golden_faces(NEUTRAL)
    return {
        "neutral": photo,
        "eyes_shut": close_eyes(photo, landmarks),
        # The eye on the photo's left: the person's right eye.
        "right_eye_shut": close_eyes(photo, landmarks, ("first",)),
        "mouth_open": open_mouth(photo, landmarks),
    }


@pytest.fixture(scope="module")
def expressions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("expressions")
    paths = {}
    for name, image in _expression_images().items():
        paths[name] = folder / f"{name}.png"
        image.save(paths[name])
    return paths


# Overrides conftest's clip for this module's browser: neutral, eyes shut, mouth open, looped.
@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Clip:
    images = _expression_images()
    frames = [fit_photo(images[name]) for name in ("neutral", "eyes_shut", "mouth_open")]
    path = tmp_path_factory.mktemp("camera") / "expressions.y4m"
    write_y4m_segments([frame for frame, _ in frames], path, CLIP_SEGMENT_FRAMES)
    return Clip(path, frames[0][1], NEUTRAL)


@pytest.fixture(scope="module")
def server(live_server: Any) -> Any:
    return live_server({})


@pytest.fixture
def photo_page(server: Any, demo_page: DemoPage) -> Iterator[DemoPage]:
    demo_page.page.goto(f"{server.base_url}/demo/?mode=photo")
    demo_page.page.wait_for_function("() => window.facemeshDemo.meshLoaded")
    yield demo_page
    assert demo_page.console_errors == []
    assert demo_page.state()["errors"] == []


def _post(demo: DemoPage, photo: Path) -> dict[str, Any]:
    """Posts ``photo`` in photo mode; -> the page's state once its answer is drawn."""
    before = demo.state()["framesReceived"]
    demo.page.set_input_files("#photo-file", str(photo))
    demo.page.wait_for_function(f"() => window.facemeshDemo.framesReceived > {before}")
    return demo.state()


def _eye_boxes(puppet: dict[str, Any]) -> list[list[float]]:
    """The boxes the puppet's eyes may fill at most (fully open), person's left then right."""
    boxes = []
    for side in ("left", "right"):
        eye = puppet["shapes"]["eyes"][side]
        rx, ry = eye["rx"], 1.5 * eye["rx"]
        boxes.append([eye["x"] - rx, eye["y"] - ry, eye["x"] + rx, eye["y"] + ry])
    return boxes


def _mouth_box(puppet: dict[str, Any]) -> list[float]:
    mouth = puppet["shapes"]["mouth"]
    half = mouth["width"]  # generous: the corners move with a smile
    return [mouth["x"] - half, mouth["y"] - half, mouth["x"] + half, mouth["y"] + 2 * half]


def _drawn(demo: DemoPage, puppet: dict[str, Any]) -> dict[str, Any]:
    """Eye-white pixels per eye (person's left, right) and mouth-inside pixels on the canvas."""
    colors = puppet["colors"]
    whites = demo.page.evaluate(COUNT_PUPPET_PIXELS, [_eye_boxes(puppet), colors["eyeWhite"], 8])
    (mouth,) = demo.page.evaluate(COUNT_PUPPET_PIXELS, [[_mouth_box(puppet)], colors["mouth"], 8])
    return {"white_left": whites[0], "white_right": whites[1], "mouth": mouth}


def _check_bars(demo: DemoPage, scores: dict[str, float]) -> list[str]:
    """The bars are the strongest scores (``_neutral`` left out), strongest first, as shown."""
    shown = demo.page.evaluate(READ_BARS)
    ranked = sorted(((v, k) for k, v in scores.items() if k != "_neutral"), reverse=True)
    assert [name for name, _ in shown] == [k for _, k in ranked[: len(shown)]]
    assert len(shown) == 8
    for name, text in shown:
        assert float(text) == pytest.approx(scores[name], abs=0.006)
    return [name for name, _ in shown]


def test_photo_mode_puppet_follows_the_face(
    photo_page: DemoPage, expressions: dict[str, Path], tmp_path: Path
) -> None:
    page = photo_page.page
    seen: dict[str, dict[str, Any]] = {}
    for name, photo in expressions.items():
        state = _post(photo_page, photo)
        (face,) = state["lastResponse"]["faces"]
        assert sorted(face["blendshapes"]) == sorted(BLENDSHAPE_NAMES)
        assert all(0.0 <= v <= 1.0 for v in face["blendshapes"].values())
        puppet = state["puppet"]
        assert puppet["visible"] and puppet["face"] == 0 and page.is_visible("#puppet-panel")
        assert puppet["scores"] == face["blendshapes"]
        bars = _check_bars(photo_page, face["blendshapes"])
        seen[name] = {"puppet": puppet, "bars": bars, "drawn": _drawn(photo_page, puppet)}
        page.locator("#puppet-panel").screenshot(path=str(tmp_path / f"puppet-{name}.png"))
        print(f"{name}: {_summary(puppet)} drawn {seen[name]['drawn']} bars {bars}")
    print(f"puppet screenshots: {tmp_path}")

    def score(name: str, key: str) -> float:
        return float(seen[name]["puppet"]["scores"][key])

    def moved(name: str, key: str) -> float:
        return score(name, key) - score("neutral", key)

    neutral = seen["neutral"]
    # Eyes shut: both blinks rise, the mouth stays; the puppet's eyes close.
    for side, key in (("left", "eyeBlinkLeft"), ("right", "eyeBlinkRight")):
        assert moved("eyes_shut", key) >= MOVED, (key, score("eyes_shut", key))
        assert abs(moved("mouth_open", key)) <= STILL, (key, score("mouth_open", key))
        shut = seen["eyes_shut"]
        assert shut["puppet"]["pose"][side]["eyeOpen"] <= (
            neutral["puppet"]["pose"][side]["eyeOpen"] - MOVED
        )
        assert shut["drawn"][f"white_{side}"] <= 0.75 * neutral["drawn"][f"white_{side}"]
    assert abs(moved("eyes_shut", "jawOpen")) <= STILL

    # One eye shut, the photo's left one: the person's right eye. The puppet, unmirrored in
    # photo mode, shuts the eye on the left of its canvas, as in the photo.
    wink = seen["right_eye_shut"]
    assert moved("right_eye_shut", "eyeBlinkRight") >= MOVED
    assert moved("right_eye_shut", "eyeBlinkRight") >= moved("right_eye_shut", "eyeBlinkLeft") + (
        MOVED
    )
    eyes = wink["puppet"]["shapes"]["eyes"]
    assert eyes["right"]["x"] < eyes["left"]["x"]
    assert eyes["right"]["ry"] < eyes["left"]["ry"]
    assert wink["drawn"]["white_right"] <= 0.75 * wink["drawn"]["white_left"]
    assert page.evaluate("() => getComputedStyle(document.getElementById('puppet')).transform") in (
        "none",
        "matrix(1, 0, 0, 1, 0, 0)",
    )

    # Mouth open: jawOpen rises and is among the bars; the puppet's mouth opens, dark inside.
    opened = seen["mouth_open"]
    assert moved("mouth_open", "jawOpen") >= MOVED
    assert "jawOpen" in opened["bars"]
    assert opened["puppet"]["pose"]["mouthOpen"] >= neutral["puppet"]["pose"]["mouthOpen"] + MOVED
    assert opened["puppet"]["shapes"]["mouth"]["opening"] > (
        neutral["puppet"]["shapes"]["mouth"]["opening"] + 5
    )
    assert opened["drawn"]["mouth"] >= 150 and opened["drawn"]["mouth"] >= (
        5 * neutral["drawn"]["mouth"]
    )


def _summary(puppet: dict[str, Any]) -> str:
    pose, scores = puppet["pose"], puppet["scores"]
    return (
        f"blink L {scores['eyeBlinkLeft']:.2f} R {scores['eyeBlinkRight']:.2f} "
        f"jawOpen {scores['jawOpen']:.2f}; eyeOpen L {pose['left']['eyeOpen']:.2f} "
        f"R {pose['right']['eyeOpen']:.2f} mouthOpen {pose['mouthOpen']:.2f}"
    )


def test_puppet_hides_without_blendshapes(
    photo_page: DemoPage, expressions: dict[str, Path]
) -> None:
    page = photo_page.page
    page.uncheck("#puppet-on")  # requests no longer ask for blendshapes
    state = _post(photo_page, expressions["neutral"])
    (face,) = state["lastResponse"]["faces"]
    assert face.get("blendshapes") is None
    assert not state["puppet"]["visible"] and not page.is_visible("#puppet-panel")

    page.check("#puppet-on")
    state = _post(photo_page, expressions["neutral"])
    assert state["puppet"]["visible"] and page.is_visible("#puppet-panel")

    state = _post(photo_page, DATA / "frames" / "t1.jpg")  # no face found in it
    assert state["lastResponse"]["faces"] == []
    assert not state["puppet"]["visible"] and not page.is_visible("#puppet-panel")


# Collects, for each of the next ``count`` answers (or until ``limit_ms`` passes), the scores
# and what the puppet drew from them.
SAMPLE_ANSWERS = """async ([count, limitMs]) => {
  const demo = window.facemeshDemo;
  const samples = [];
  let seen = demo.framesReceived;
  const started = performance.now();
  while (samples.length < count && performance.now() - started < limitMs) {
    await new Promise((r) => setTimeout(r, 5));
    if (demo.framesReceived === seen) continue;
    seen = demo.framesReceived;
    const p = demo.puppet;
    if (!p.visible) { samples.push(null); continue; }
    samples.push({
      blinkLeft: p.scores.eyeBlinkLeft, blinkRight: p.scores.eyeBlinkRight,
      jawOpen: p.scores.jawOpen,
      eyeLeft: p.shapes.eyes.left.ry, eyeRight: p.shapes.eyes.right.ry,
      mouth: p.shapes.mouth.opening,
    });
  }
  return samples;
}"""


def test_webcam_mode_puppet_follows_the_camera(server: Any, demo_page: DemoPage) -> None:
    page = demo_page.page
    page.goto(f"{server.base_url}/demo/")
    page.wait_for_function("() => window.facemeshDemo.meshLoaded")
    page.click("#start")
    page.wait_for_function("() => window.facemeshDemo.puppet.visible")
    # Mirrored with the picture (Mirror is on by default).
    assert (
        page.evaluate("() => getComputedStyle(document.getElementById('puppet')).transform")
        == "matrix(-1, 0, 0, 1, 0, 0)"
    )
    # The clip loops every 3 s; a generous bound on answers and on waiting for them.
    samples = page.evaluate(SAMPLE_ANSWERS, [60, 120_000])
    assert samples and all(s is not None for s in samples)
    print(f"webcam: {len(samples)} answers sampled")
    # Sorted by the scores alone (answers between two pictures fall in neither group).
    neutral = [s for s in samples if s["blinkLeft"] + s["blinkRight"] < 0.3 and s["jawOpen"] < 0.1]
    shut = [s for s in samples if s["blinkLeft"] + s["blinkRight"] >= 0.6 and s["jawOpen"] < 0.1]
    opened = [s for s in samples if s["jawOpen"] >= 0.3]
    print(f"webcam: {len(neutral)} neutral, {len(shut)} eyes shut, {len(opened)} mouth open")
    assert neutral and shut and opened

    def mean(group: list[dict[str, float]], *keys: str) -> float:
        return sum(s[key] for s in group for key in keys) / len(group)

    # Drawn: eyes smaller when shut than when neutral, the mouth open wider (canvas pixels).
    eyes = ("eyeLeft", "eyeRight")
    print(f"webcam: eyes drawn {mean(neutral, *eyes):.1f} px neutral, {mean(shut, *eyes):.1f} shut")
    assert mean(shut, *eyes) <= 0.8 * mean(neutral, *eyes)
    print(f"webcam: mouth drawn {mean(neutral, 'mouth'):.1f} px, {mean(opened, 'mouth'):.1f} open")
    assert mean(opened, "mouth") >= mean(neutral, "mouth") + 5

    # Unticking Puppet restarts the session without blendshapes: the puppet hides, frames flow.
    page.uncheck("#puppet-on")
    page.wait_for_function("() => !window.facemeshDemo.puppet.visible")
    before = demo_page.state()["framesReceived"]
    page.wait_for_function(f"() => window.facemeshDemo.framesReceived >= {before + 2}")
    state = demo_page.state()
    assert all(f.get("blendshapes") is None for f in state["lastResponse"]["faces"])
    assert not state["puppet"]["visible"] and not page.is_visible("#puppet-panel")
    page.click("#stop")
    assert demo_page.console_errors == []
    assert demo_page.state()["errors"] == []


def test_puppet_goes_off_on_a_server_without_the_blendshape_model(
    live_server: Any, demo_page: DemoPage, expressions: dict[str, Path], tmp_path: Path
) -> None:
    """Such a server refuses ``blendshapes=true`` (422); the page goes on without the puppet."""
    server = live_server({"FACEMESH_BLENDSHAPES_MODEL_PATH": str(tmp_path / "absent.onnx")})
    refused = server.client().post(
        "/v1/frame?blendshapes=true",
        content=expressions["neutral"].read_bytes(),
        headers={"content-type": "image/png"},
    )
    assert refused.status_code == 422 and "blendshapes" in refused.json()["error"]["message"]
    page = demo_page.page
    page.goto(f"{server.base_url}/demo/")
    page.wait_for_function("() => window.facemeshDemo.meshLoaded")
    page.click("#start")  # the handshake asking for blendshapes is refused, the next one opens
    page.wait_for_function("() => window.facemeshDemo.framesReceived >= 2")
    assert not page.is_checked("#puppet-on") and not page.is_visible("#puppet-panel")
    assert "puppet off" in page.inner_text("#status")
    page.click("#stop")

    page.click("#tab-photo")
    page.check("#puppet-on")
    state = _post(demo_page, expressions["neutral"])
    assert len(state["lastResponse"]["faces"]) == 1 and not state["puppet"]["visible"]
    assert not page.is_checked("#puppet-on") and "puppet off" in page.inner_text("#status")
    assert state["errors"] == []
    # Chromium itself logs the refused handshake and the refused POST; nothing else.
    assert len(demo_page.console_errors) == 2
    assert all("422" in line for line in demo_page.console_errors), demo_page.console_errors


def test_puppet_on_the_landmarker_pipeline(
    live_server: Any, demo_page: DemoPage, expressions: dict[str, Path]
) -> None:
    """FaceLandmarker's own landmarks (no region transforms: null affines) drive the puppet.
    Its landmark model is not fooled by the eye warp (blinks stay under 0.1), so only the open
    mouth is compared here."""
    server = live_server({"FACEMESH_PIPELINE": "landmarker"})
    page = demo_page.page
    page.goto(f"{server.base_url}/demo/?mode=photo")
    page.wait_for_function("() => window.facemeshDemo.meshLoaded")
    seen = {}
    for name in ("neutral", "mouth_open"):
        state = _post(demo_page, expressions[name])
        (face,) = state["lastResponse"]["faces"]
        assert face["regions"]["lips"]["affine"] is None  # drawn without the boxes
        assert state["puppet"]["visible"]
        seen[name] = state["puppet"]
        print(f"landmarker {name}: {_summary(state['puppet'])}")
    opened, neutral = seen["mouth_open"], seen["neutral"]
    assert opened["scores"]["jawOpen"] >= neutral["scores"]["jawOpen"] + MOVED
    assert opened["pose"]["mouthOpen"] >= neutral["pose"]["mouthOpen"] + MOVED
    assert demo_page.console_errors == [] and demo_page.state()["errors"] == []
