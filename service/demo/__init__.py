"""The browser demo: static HTML + JavaScript under ``static/``, served at ``/demo/``.

No build step and nothing loaded from other origins. ``static/mesh.json`` (the mesh's triangles
and contours) is generated from the mediapipe wheel by ``make demo-assets`` and git-ignored; the
page still draws landmarks, regions and boxes without it.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.responses import RedirectResponse
from starlette.routing import Route
from starlette.staticfiles import StaticFiles

from service.core.config import Settings

STATIC_DIR = Path(__file__).resolve().parent / "static"
MOUNT_PATH = "/demo"


def mount_demo(app: FastAPI, settings: Settings) -> None:
    """Serve ``static/`` at ``/demo/`` (``index.html`` for the folder) when the demo is on;
    ``/demo`` redirects there with a relative ``Location`` (the app makes no slash redirects)."""
    if settings.demo_enabled:
        app.router.routes.append(
            Route(MOUNT_PATH, _to_folder, methods=["GET", "HEAD"], include_in_schema=False)
        )
        app.mount(MOUNT_PATH, StaticFiles(directory=STATIC_DIR, html=True), name="demo")


async def _to_folder(_: object) -> RedirectResponse:
    return RedirectResponse(MOUNT_PATH + "/")
