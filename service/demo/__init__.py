"""The browser demo: static HTML + JavaScript under ``static/``, served at ``/demo/``.

No build step and nothing loaded from other origins. ``static/mesh.json`` (the mesh's triangles
and contours) is generated from the mediapipe wheel by ``make demo-assets`` and git-ignored; the
page still draws landmarks, regions and boxes without it.

The files are served by ``DemoFiles``, Starlette's ``StaticFiles`` with two answers of its own:

* a folder named without its trailing slash (``/demo/.``, ``/demo/%2e``, ``/demo/x/..``)
  redirects to the folder's canonical path as a relative ``Location`` (``/demo/``), never an
  absolute URL built from the request's ``Host`` header;
* a ``Range`` the file cannot satisfy (or a malformed ``bytes`` range) is a 416 with the
  service's JSON error body (code ``range_not_satisfiable``) and ``Content-Range:
  bytes */size``; a range in another unit is ignored (RFC 9110), so the whole file is sent.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.responses import (
    FileResponse,
    MalformedRangeHeader,
    RangeNotSatisfiable,
    RedirectResponse,
    Response,
)
from starlette.routing import Route
from starlette.staticfiles import NotModifiedResponse, StaticFiles
from starlette.types import Receive, Scope, Send

from service.api.error_handlers import error_response
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
        app.mount(MOUNT_PATH, DemoFiles(directory=STATIC_DIR, html=True), name="demo")


async def _to_folder(_: object) -> RedirectResponse:
    return RedirectResponse(MOUNT_PATH + "/")


class DemoFiles(StaticFiles):
    """``StaticFiles`` with relative folder redirects and JSON range errors (see above)."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if isinstance(response, RedirectResponse):
            # Starlette's redirect for a folder without its slash names the request's Host.
            # ``path`` is normalised ("." for the mount's own folder, never absolute).
            folder = "" if path == "." else path.replace(os.sep, "/") + "/"
            return RedirectResponse(f"{scope.get('root_path', '')}/{folder}")
        return response

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = _RangeCheckedFile(full_path, status_code=status_code, stat_result=stat_result)
        if self.is_not_modified(response.headers, Headers(scope=scope)):
            return NotModifiedResponse(response.headers)
        return response


class _RangeCheckedFile(FileResponse):
    """A ``FileResponse`` whose unsatisfiable ``Range`` is answered with the JSON error."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        requested, if_range = headers.get("range"), headers.get("if-range")
        if requested is not None and (if_range is None or self._should_use_range(if_range)):
            unit = requested.partition("=")[0].strip().lower()
            if unit != "bytes":  # a unit we do not know: ignored, the whole file is sent
                scope = {**scope, "headers": _without_range(scope)}
            elif (refusal := self._range_error(requested)) is not None:
                await refusal(scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    def _range_error(self, requested: str) -> Response | None:
        """The 416 JSON answer to a ``bytes`` range this file cannot serve, else None."""
        assert self.stat_result is not None
        size = self.stat_result.st_size
        try:
            self._parse_range_header(requested, size)
        except (MalformedRangeHeader, RangeNotSatisfiable):
            message = f"Range {requested[:100]!r} cannot be served from a {size}-byte file"
            refusal = error_response(416, "range_not_satisfiable", message)
            refusal.headers["Content-Range"] = f"bytes */{size}"
            return refusal
        return None


def _without_range(scope: Scope) -> list[tuple[bytes, bytes]]:
    return [(k, v) for k, v in scope["headers"] if k.lower() != b"range"]
