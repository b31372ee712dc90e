"""Every Prometheus metric the gateway exports, declared in one place.

Names are namespaced (``facemesh_``) and carry their unit. Labels are bounded: ``stage`` and
``endpoint`` come from fixed tuples below, ``status`` from HTTP status codes, ``code`` from
``service.core.errors.ERROR_CODES``. Label sets are pre-created so every series starts at 0.

With several uvicorn workers, ``python -m service`` points ``PROMETHEUS_MULTIPROC_DIR`` at a
fresh directory before the workers start; ``make_metrics_app`` then aggregates all workers
(prometheus_client multiprocess mode, see its documented limits: no Info/Enum metrics, gauges
need a ``multiprocess_mode``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    make_asgi_app,
    multiprocess,
)

from service.contract import MODEL_LABELS
from service.core.errors import ERROR_CODES

# Crops (/v1/crop, /v1/crops): decode .. postprocess, total.
CROP_STAGES: tuple[str, ...] = ("decode", "preprocess", "inference", "postprocess", "total")
# Whole frames (/v1/frame) and tracking (/v1/track, gRPC): decode (frame_decode), the
# detector (detect, absent on tracked frames), the landmark model with its warps and
# projection (landmarks), the head pose (pose), and frame_total (probe to result).
FRAME_STAGES: tuple[str, ...] = ("frame_decode", "detect", "landmarks", "pose", "frame_total")
# Blendshapes on request (?blendshapes=true, every endpoint): the points, the blendshape
# model's call (micro-batched across faces and requests) and the scores' rows.
BLENDSHAPE_STAGES: tuple[str, ...] = ("blendshapes",)
STAGES: tuple[str, ...] = CROP_STAGES + FRAME_STAGES + BLENDSHAPE_STAGES
ENDPOINTS: tuple[str, ...] = (
    "/v1/crop",
    "/v1/crops",
    "/v1/frame",
    "/v1/track",
    "/healthz",
    "/readyz",
    "other",
)
OUTCOMES: tuple[str, ...] = ("face", "below_threshold")
# Models behind the micro-batcher (service/inference/batcher.py), one executor each: the
# landmark pipelines by name and the face detectors by kind (service/lifespan.py).
MODELS: tuple[str, ...] = MODEL_LABELS
_PRECREATED_STATUSES: tuple[str, ...] = (
    "200", "404", "408", "413", "415", "422", "499", "500", "503",
)  # fmt: skip
# The WebSocket /v1/track counts handshakes: 101 accepted, else the refusal's status (401 no
# or bad API key, 422 bad query; 403 a close before acceptance).
WEBSOCKET_ENDPOINTS: tuple[str, ...] = ("/v1/track",)
_WEBSOCKET_STATUSES: tuple[str, ...] = ("101", "401", "403", "422")

# Milliseconds to seconds: a CPU model call on a batch is 5 ms to 1 s.
STAGE_BUCKETS_S: tuple[float, ...] = (
    0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075,
    0.1, 0.15, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
)  # fmt: skip
BATCH_BUCKETS: tuple[float, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256)
# Microseconds to a second: how long a request waited for its model call.
QUEUE_DELAY_BUCKETS_S: tuple[float, ...] = (
    0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0,
)  # fmt: skip

STAGE_SECONDS = Histogram(
    "facemesh_stage_duration_seconds",
    "Time spent per processing stage of one request (decode..postprocess; total = all stages).",
    ["stage"],
    buckets=STAGE_BUCKETS_S,
)
REQUEST_SECONDS = Histogram(
    "facemesh_http_request_duration_seconds",
    "Wall time from request start to response end, per endpoint.",
    ["endpoint"],
    buckets=STAGE_BUCKETS_S,
)
REQUESTS = Counter(
    "facemesh_http_requests_total",
    "HTTP requests answered, by endpoint and status code.",
    ["endpoint", "status"],
)
IN_FLIGHT = Gauge(
    "facemesh_http_requests_in_flight",
    "HTTP requests being handled right now.",
    ["endpoint"],
    multiprocess_mode="livesum",
)
IMAGES_PER_REQUEST = Histogram(
    "facemesh_request_images",
    "Images per /v1/crop or /v1/crops request (not per model call: that is "
    "facemesh_model_batch_size_images).",
    buckets=BATCH_BUCKETS,
)
MODEL_BATCH_SIZE = Histogram(
    "facemesh_model_batch_size_images",
    "Images per model call, after micro-batching concurrent requests, per model.",
    ["model"],
    buckets=BATCH_BUCKETS,
)
MODEL_QUEUE_DELAY = Histogram(
    "facemesh_model_queue_delay_seconds",
    "Time a request's images waited for their model call (micro-batching queue), per model.",
    ["model"],
    buckets=QUEUE_DELAY_BUCKETS_S,
)
ERRORS = Counter(
    "facemesh_errors_total",
    "Error responses, by error code.",
    ["code"],
)
CLIENT_DISCONNECTS = Counter(
    "facemesh_client_disconnects_total",
    "Requests whose client went away before the body was read (not counted as errors).",
    ["endpoint"],
)
CROPS = Counter(
    "facemesh_crops_total",
    "Crops answered, by whether the face score reached the threshold.",
    ["outcome"],
)


@contextmanager
def timed(stage: str) -> Iterator[None]:
    """Observe the block's wall time into ``facemesh_stage_duration_seconds{stage}``."""
    start = time.perf_counter()
    try:
        yield
    finally:
        STAGE_SECONDS.labels(stage=stage).observe(time.perf_counter() - start)


for _stage in STAGES:
    STAGE_SECONDS.labels(stage=_stage)
for _endpoint in ENDPOINTS:
    REQUEST_SECONDS.labels(endpoint=_endpoint)
    IN_FLIGHT.labels(endpoint=_endpoint)
    CLIENT_DISCONNECTS.labels(endpoint=_endpoint)
    statuses = _WEBSOCKET_STATUSES if _endpoint in WEBSOCKET_ENDPOINTS else _PRECREATED_STATUSES
    for _status in statuses:
        REQUESTS.labels(endpoint=_endpoint, status=_status)
for _code in ERROR_CODES:
    ERRORS.labels(code=_code)
for _outcome in OUTCOMES:
    CROPS.labels(outcome=_outcome)
for _model in MODELS:
    MODEL_BATCH_SIZE.labels(model=_model)
    MODEL_QUEUE_DELAY.labels(model=_model)


def endpoint_label(path: str) -> str:
    """Bounded ``endpoint`` label for a request path."""
    return path if path in ENDPOINTS else "other"


def make_metrics_app(multiproc_dir: Path | None) -> Callable[..., Any]:
    """The prometheus_client ASGI app, aggregating all workers in multiprocess mode."""
    if multiproc_dir is None:
        return make_asgi_app(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(multiproc_dir))  # type: ignore[no-untyped-call]
    return make_asgi_app(registry)


def mark_process_dead(pid: int, multiproc_dir: Path | None) -> None:
    """Drop a finished worker's live gauges (multiprocess mode only)."""
    if multiproc_dir is not None:
        multiprocess.mark_process_dead(pid, path=str(multiproc_dir))  # type: ignore[no-untyped-call]
