"""Browser fixtures: headless Chromium from the OS packages, driven by Playwright, with a fake
camera playing a clip made from a test photo.

The browser is Debian's ``/usr/bin/chromium`` (``make browser`` installs it; ``make test``
runs that first); Playwright never downloads one. Tests skip with that pointer when it or the
``playwright`` package is missing, as model tests skip without ``make model``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.system.demo.clip import Placement, fit_photo, write_y4m

DATA = Path(__file__).resolve().parents[2] / "data"
CHROMIUM = Path("/usr/bin/chromium")
CLIP_PHOTO = "grace_hopper.jpg"  # one upright face, golden in frames_goldens.json
GOLDENS = {entry["file"]: entry for entry in json.loads((DATA / "frames_goldens.json").read_text())}

playwright_sync = pytest.importorskip(
    "playwright.sync_api", reason="playwright missing: `make dev-venv` installs it"
)


def golden_faces(name: str) -> list[np.ndarray]:
    """The photo's MediaPipe faces, each (478, 3) in the photo's pixels (z on the x scale)."""
    entry = GOLDENS[name]
    scale = np.array([entry["width"], entry["height"], entry["width"]])
    return [np.asarray(face) * scale for face in entry["faces"]]


@dataclass(frozen=True)
class Clip:
    path: Path
    placement: Placement
    photo: str


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Clip:
    frame, placement = fit_photo(Image.open(DATA / "frames" / CLIP_PHOTO))
    path = write_y4m(frame, tmp_path_factory.mktemp("camera") / "face.y4m")
    return Clip(path, placement, CLIP_PHOTO)


# Module scope: Playwright's sync API keeps an event loop running in this thread while it is
# open, which would break ``asyncio.run`` in the tests collected after these.
@pytest.fixture(scope="module")
def browser(clip: Clip) -> Iterator[Any]:
    if not (CHROMIUM.is_file() and shutil.which(str(CHROMIUM))):
        pytest.skip(f"{CHROMIUM} missing: run `make browser` (apt-get install chromium)")
    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=[
                "--no-sandbox",  # tests may run as root in containers
                "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream",
                f"--use-file-for-fake-video-capture={clip.path}",
            ],
        )
        yield browser
        browser.close()


@dataclass
class DemoPage:
    """A page plus every console error and uncaught exception it produced."""

    page: Any
    console_errors: list[str] = field(default_factory=list)

    def state(self) -> dict[str, Any]:
        return dict(self.page.evaluate("() => window.facemeshDemo"))


@pytest.fixture
def demo_page(browser: Any) -> Iterator[DemoPage]:
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    page = context.new_page()
    page.set_default_timeout(90_000)  # an upper bound on waiting on a loaded machine
    demo = DemoPage(page)
    page.on(
        "console", lambda msg: demo.console_errors.append(msg.text) if msg.type == "error" else None
    )
    page.on("pageerror", lambda exc: demo.console_errors.append(f"uncaught: {exc}"))
    yield demo
    context.close()
