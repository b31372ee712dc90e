"""The peer: MediaPipe FaceMesh behind FastAPI, the wrapper a user would write in an afternoon.

Runs inside the oracle virtualenv (``tools/oracle/oracle_env.py``: mediapipe 0.10.21, numpy<2,
MediaPipe's own OpenCV, FastAPI + uvicorn[standard] + orjson at the gateway's versions), never
in the service's; ``benchmarks/peer.py`` starts it beside our gateway:

    .cache/venv-oracle/bin/python tools/oracle/peer_server.py --port 8001

Done decently, not tuned: OpenCV ``imdecode``, orjson responses, one graph per endpoint behind
a lock, decode and graph in Starlette's threadpool (the event loop only moves bytes).

- ``POST /frame``: a raw image body (JPEG/PNG) -> every face,
  ``FaceMesh(static_image_mode=True, refine_landmarks=True, max_num_faces=16)`` (our
  ``FACEMESH_MAX_FACES`` default).
- ``POST /crop``: a raw 192x192 face crop -> its face. ``--crop-graph landmark`` (default):
  MediaPipe's ``FaceLandmarkCpu`` subgraph with attention on a full-crop ROI, the graph the
  oracle workers (``mediapipe_worker.py``) and the goldens use. It does the work ``/v1/crop``
  does (landmarks for a face already cropped, no detector), so the comparison is like for
  like. The solutions API has no crop entry point; ``--crop-graph facemesh`` is what a user
  of it would write (FaceMesh static on the crop: it finds the face in all 42 test crops),
  but it also runs the face detector and lands the landmark model on its own ROI, work
  ``/v1/crop`` does not do.
- ``WS /track``: one ``FaceMesh(static_image_mode=False, refine_landmarks=True,
  max_num_faces=1)`` graph per WebSocket session (our ``FACEMESH_TRACKING_MAX_FACES``
  default; MediaPipe's landmark smoothing on, as ours is); binary image messages in, one JSON
  text message out per frame.

- ``POST /landmarker``, ``WS /landmarker/track`` (with ``--task face_landmarker.task``): the
  same wrapper around MediaPipe Tasks' ``FaceLandmarker`` (image mode with ``--max-faces``
  faces; video mode with one face per session, frames stamped 30 fps apart), blendshapes on;
  each face also carries ``blendshapes`` (name -> score).

Every answer: ``{"image": {"width", "height"}, "faces": [{"landmarks": 478 x [x, y, z]}]}``,
x/y in image pixels, z on the x scale (MediaPipe's normalised z times the width). Bad input:
HTTP 422 (``{"error": {"code", "message"}}``), on the WebSocket the same body as a message and
the session goes on.
"""

from __future__ import annotations

import argparse
import threading
from typing import Any

import cv2
import mediapipe as mp
import numpy as np
import orjson
import uvicorn
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from mediapipe.framework.formats import rect_pb2
from mediapipe_worker import face_landmark_cpu  # beside this script (its own sys.path[0])

FULL_ROI = rect_pb2.NormalizedRect(x_center=0.5, y_center=0.5, width=1.0, height=1.0, rotation=0)


class NotAnImageError(ValueError):
    pass


def face_mesh(static: bool, max_faces: int) -> Any:
    return mp.solutions.face_mesh.FaceMesh(
        static_image_mode=static, max_num_faces=max_faces, refine_landmarks=True
    )


def decode(body: bytes) -> np.ndarray:
    """RGB pixels of an encoded image."""
    bgr = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR) if body else None
    if bgr is None:
        raise NotAnImageError("the body is not a decodable image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def pixels(landmarks: Any, width: int, height: int) -> np.ndarray:
    """478 x [x, y, z] in image pixels from a NormalizedLandmarkList."""
    points = np.array([(p.x, p.y, p.z) for p in landmarks.landmark], dtype=np.float64)
    return points * np.array([width, height, width], dtype=np.float64)


def answer(width: int, height: int, faces: list[np.ndarray]) -> bytes:
    body = {"image": {"width": width, "height": height}, "faces": [{"landmarks": f} for f in faces]}
    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)


def error(message: str) -> bytes:
    return orjson.dumps({"error": {"code": "not_an_image", "message": message}})


class Graph:
    """One MediaPipe graph behind a lock (a graph runs one image at a time)."""

    def __init__(self, graph: Any) -> None:
        self.graph = graph
        self.lock = threading.Lock()

    def faces(self, rgb: np.ndarray) -> list[np.ndarray]:
        height, width = rgb.shape[:2]
        with self.lock:
            result = self.graph.process(rgb)
        return [pixels(face, width, height) for face in result.multi_face_landmarks or ()]


class CropGraph(Graph):
    """``FaceLandmarkCpu`` with attention on the whole crop."""

    def __init__(self) -> None:
        super().__init__(face_landmark_cpu())

    def faces(self, rgb: np.ndarray) -> list[np.ndarray]:
        height, width = rgb.shape[:2]
        with self.lock:
            result = self.graph.process({"image": rgb, "roi": FULL_ROI})
        landmarks = result.landmarks  # absent when the face score is below MediaPipe's 0.5
        return [] if landmarks is None else [pixels(landmarks, width, height)]


def run(graph: Graph, body: bytes) -> bytes:
    """Decode + graph + JSON: what each request does in the threadpool."""
    rgb = decode(body)
    return answer(rgb.shape[1], rgb.shape[0], graph.faces(rgb))


class Landmarker:
    """MediaPipe Tasks' FaceLandmarker (blendshapes on) behind a lock; ``video``: its VIDEO
    mode, frames stamped 30 fps apart."""

    def __init__(self, task: str, num_faces: int, video: bool) -> None:
        from mediapipe.tasks.python import BaseOptions, vision

        mode = vision.RunningMode.VIDEO if video else vision.RunningMode.IMAGE
        options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=task),
            running_mode=mode,
            num_faces=num_faces,
            output_face_blendshapes=True,
        )
        self.graph = vision.FaceLandmarker.create_from_options(options)
        self.video = video
        self.frames = 0
        self.lock = threading.Lock()

    def answer(self, body: bytes) -> bytes:
        rgb = decode(body)
        height, width = rgb.shape[:2]
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb)
        with self.lock:
            if self.video:
                result = self.graph.detect_for_video(image, round(self.frames * 1000 / 30))
                self.frames += 1
            else:
                result = self.graph.detect(image)
        scale = np.array([width, height, width], dtype=np.float64)
        faces = [
            {
                "landmarks": np.array([(p.x, p.y, p.z) for p in points]) * scale,
                "blendshapes": {c.category_name: c.score for c in shapes},
            }
            for points, shapes in zip(result.face_landmarks, result.face_blendshapes, strict=True)
        ]
        body = {"image": {"width": width, "height": height}, "faces": faces}
        return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)


def create_app(max_faces: int, crop_graph: str, task: str | None = None) -> FastAPI:
    app = FastAPI(title="MediaPipe FaceMesh behind FastAPI (the peer)")
    if task is not None:
        add_landmarker_routes(app, task, max_faces)
    frames = Graph(face_mesh(static=True, max_faces=max_faces))
    crops = CropGraph() if crop_graph == "landmark" else Graph(face_mesh(True, 1))

    async def answer_post(graph: Graph, request: Request) -> Response:
        body = await request.body()
        try:
            content = await run_in_threadpool(run, graph, body)
        except NotAnImageError as exc:
            return Response(error(str(exc)), status_code=422, media_type="application/json")
        return Response(content, media_type="application/json")

    @app.post("/frame")
    async def frame(request: Request) -> Response:
        return await answer_post(frames, request)

    @app.post("/crop")
    async def crop(request: Request) -> Response:
        return await answer_post(crops, request)

    @app.get("/healthz")
    def healthz() -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    @app.websocket("/track")
    async def track(websocket: WebSocket) -> None:
        await websocket.accept()
        session = Graph(await run_in_threadpool(face_mesh, False, 1))
        try:
            while (message := await websocket.receive())["type"] != "websocket.disconnect":
                body = message.get("bytes")
                try:
                    if body is None:
                        raise NotAnImageError("send each frame as one binary message")
                    content = await run_in_threadpool(run, session, body)
                except NotAnImageError as exc:
                    content = error(str(exc))
                await websocket.send_text(content.decode())
        except WebSocketDisconnect:
            pass
        finally:
            await run_in_threadpool(session.graph.close)

    return app


def add_landmarker_routes(app: FastAPI, task: str, max_faces: int) -> None:
    """``POST /landmarker`` (image mode, ``max_faces`` faces) and ``WS /landmarker/track``
    (one video-mode FaceLandmarker per session, one face), blendshapes on: the same wrapper
    around MediaPipe Tasks' FaceLandmarker; each face also has ``blendshapes`` (name -> score)."""
    stills = Landmarker(task, max_faces, video=False)

    @app.post("/landmarker")
    async def landmarker(request: Request) -> Response:
        body = await request.body()
        try:
            content = await run_in_threadpool(stills.answer, body)
        except NotAnImageError as exc:
            return Response(error(str(exc)), status_code=422, media_type="application/json")
        return Response(content, media_type="application/json")

    @app.websocket("/landmarker/track")
    async def landmarker_track(websocket: WebSocket) -> None:
        await websocket.accept()
        session = await run_in_threadpool(Landmarker, task, 1, True)
        try:
            while (message := await websocket.receive())["type"] != "websocket.disconnect":
                body = message.get("bytes")
                try:
                    if body is None:
                        raise NotAnImageError("send each frame as one binary message")
                    content = await run_in_threadpool(session.answer, body)
                except NotAnImageError as exc:
                    content = error(str(exc))
                await websocket.send_text(content.decode())
        except WebSocketDisconnect:
            pass
        finally:
            await run_in_threadpool(session.graph.close)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--max-faces", type=int, default=16, help="FaceMesh max_num_faces")
    parser.add_argument("--crop-graph", choices=("landmark", "facemesh"), default="landmark")
    parser.add_argument(
        "--task", help="face_landmarker.task: also serve /landmarker and WS /landmarker/track"
    )
    args = parser.parse_args()
    app = create_app(args.max_faces, args.crop_graph, args.task)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
