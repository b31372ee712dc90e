"""The browser demo: static HTML + JavaScript under ``static/``, served at ``/demo/``.

No build step and nothing loaded from other origins. ``static/mesh.json`` (the mesh's triangles
and contours) is generated from the mediapipe wheel by ``make demo-assets`` and git-ignored; the
page still draws landmarks, regions and boxes without it.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from service.core.config import Settings

STATIC_DIR = Path(__file__).resolve().parent / "static"
MOUNT_PATH = "/demo"


def mount_demo(app: FastAPI, settings: Settings) -> None:
    """Serve ``static/`` at ``/demo/`` (``index.html`` for the folder) when the demo is on."""
    if settings.demo_enabled:
        app.mount(MOUNT_PATH, StaticFiles(directory=STATIC_DIR, html=True), name="demo")
