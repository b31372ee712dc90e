"""The one settings object. No other module reads the environment.

Every field can be set with an environment variable named ``FACEMESH_<FIELD>`` (case
insensitive), e.g. ``FACEMESH_PORT=9000``. The only exception is
``PROMETHEUS_MULTIPROC_DIR``, the name prometheus_client itself reads.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from service.contract import PIPELINES, SHORT_RANGE, DetectorKind, PipelineName

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]

# Pillow's own decompression-bomb warning threshold; our limit must stay below it so that every
# oversized image is rejected by our check, from the header, before any pixel is decoded.
PIL_MAX_IMAGE_PIXELS = 89_478_485

ENV_PREFIX = "FACEMESH_"

# With the Triton backend the gateway must keep several calls in flight for Triton's dynamic
# batcher to form batches; one call at a time would serialise every request.
TRITON_INFERENCE_CONCURRENCY = 16

# The vertical field of view (degrees) a perspective camera can have, from a long telephoto
# lens (about 1) to a very wide rectilinear one: the one range accepted for head pose by
# FACEMESH_CAMERA_FOV_DEGREES, /v1/frame's and /v1/track's ?fov_degrees= and gRPC's
# Frame.fov_degrees (outside it the pose solve has no meaning, and near 0 it breaks down).
CAMERA_FOV_DEGREES_MIN = 1.0
CAMERA_FOV_DEGREES_MAX = 160.0

# The largest batch size OpenVINO may compile (each compiled size costs memory).
OPENVINO_BATCH_SIZE_MAX = 256


def check_batch_sizes(sizes: tuple[int, ...]) -> tuple[int, ...]:
    """The one rule for a model's compiled batch sizes: ascending, distinct, in 1..256.
    Raises ``ValueError`` otherwise (Settings at start-up, ``RuntimeOptions`` when built)."""
    if (
        not sizes
        or list(sizes) != sorted(set(sizes))
        or sizes[0] < 1
        or sizes[-1] > OPENVINO_BATCH_SIZE_MAX
    ):
        raise ValueError(
            f"batch sizes must be ascending and distinct in 1..{OPENVINO_BATCH_SIZE_MAX}, "
            f"got {sizes}"
        )
    return sizes


class Settings(BaseSettings):
    """Gateway configuration (see the settings table in README.md)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    # --- server -------------------------------------------------------------------------
    host: str = Field("0.0.0.0", description="Interface uvicorn binds to.")
    port: int = Field(8000, ge=0, le=65535, description="TCP port (0 picks a free one).")
    workers: int = Field(1, ge=1, le=64, description="uvicorn worker processes.")
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    access_log: bool = Field(True, description="Access log (one line per request) on/off.")
    log_format: Literal["text", "json"] = Field(
        "text", description="Log lines as text or as one JSON object each (with request_id)."
    )
    shutdown_timeout_s: float = Field(
        30.0,
        gt=0,
        description="On SIGTERM, longest wait for in-flight requests to finish before exit.",
    )

    # --- model / backend ----------------------------------------------------------------
    backend: Literal["embedded", "triton"] = Field(
        "embedded",
        description="Where the models run: `embedded` (in process, on the engine `runtime` "
        "picks: OpenVINO or ONNX Runtime) or a Triton server. `onnxruntime` is a deprecated "
        "alias of `embedded` (logs a warning).",
    )
    model_name: str = Field("facemesh", description="Model name reported and used on Triton.")
    model_version: str = Field("1", description="Model version reported and used on Triton.")
    model_path: Path = Field(
        REPO_ROOT / "model_repository" / "facemesh" / "1" / "model.onnx",
        description="ONNX file of the fused model for the embedded backend.",
    )
    pipeline: PipelineName = Field(
        "attention",
        description="Landmark pipeline a request gets without `?model=`: the fused Attention "
        "Mesh, the pre-attention cascade (468-point mesh, then the iris model once per eye), or "
        "MediaPipe Tasks FaceLandmarker's landmark model (docs/landmarker.md).",
    )
    extra_pipelines: str = Field(
        "",
        description="Comma-separated further pipelines loaded at start-up and selectable per "
        "request with `?model=` (e.g. `cascade`). The cascade always runs embedded (on `runtime`).",
    )
    cascade_mesh_path: Path = Field(
        REPO_ROOT / "model_repository" / "face_landmark_cascade" / "1" / "model.onnx",
        description="The cascade's 468-point mesh ONNX file (`make cascade-models`).",
    )
    cascade_iris_path: Path = Field(
        REPO_ROOT / "model_repository" / "iris_landmark" / "1" / "model.onnx",
        description="The cascade's per-eye iris ONNX file (`make cascade-models`).",
    )
    landmarker_model_path: Path = Field(
        REPO_ROOT / "model_repository" / "face_landmarker" / "1" / "model.onnx",
        description="FaceLandmarker's landmark model, ONNX (`make landmarker-models`).",
    )
    landmarker_model_name: str = Field(
        "face_landmarker", description="FaceLandmarker's landmark model's name on Triton."
    )
    blendshapes_model_path: Path = Field(
        REPO_ROOT / "model_repository" / "face_blendshapes" / "1" / "model.onnx",
        description="FaceLandmarker's blendshape model, ONNX (`make landmarker-models`); "
        "loaded when the file exists (`?blendshapes=true` is a 422 otherwise).",
    )
    blendshapes_model_name: str = Field(
        "face_blendshapes", description="The blendshape model's name on Triton."
    )
    runtime: Literal["openvino", "onnxruntime"] = Field(
        "openvino",
        description="Engine for every in-process model (embedded backend): "
        "OpenVINO (CPU, static batch sizes, f32) or ONNX Runtime. device=cuda always runs "
        "ONNX Runtime; OpenVINO falls back to it when missing or failing.",
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="Embedded device: auto uses CUDA when onnxruntime-gpu sees a GPU."
    )
    intra_op_threads: int = Field(
        0,
        ge=0,
        description="Threads one embedded model call uses (OpenVINO INFERENCE_NUM_THREADS, "
        "onnxruntime intra-op threads); 0: OpenVINO 1, ONNX Runtime one per core.",
    )
    intra_op_spinning: bool = Field(
        False,
        description="Let onnxruntime's threads spin-wait between ops: slightly lower model "
        "latency, but burns CPU that decoding and HTTP handling need.",
    )
    openvino_batch_sizes: Annotated[tuple[int, ...], NoDecode] = Field(
        (1, 2, 3, 4, 8),
        # The old name FACEMESH_OPENVINO_BATCH_BUCKETS is still read (deprecated).
        validation_alias=AliasChoices(
            "openvino_batch_sizes",
            ENV_PREFIX + "OPENVINO_BATCH_SIZES",
            ENV_PREFIX + "OPENVINO_BATCH_BUCKETS",
        ),
        description="Comma-separated batch sizes OpenVINO compiles per model (static shapes: "
        "the sizes that run without padding); a call runs as chunks of the largest size that "
        "fits (5: 4 + 1), a rest smaller than every size zero-padded. 2 and 3 let a frame's 2-3 "
        "faces (or 2-3 concurrent stills' detections) run as one call instead of calls of "
        "one. Each compiled size costs memory (about 60 MB for the mesh model, 10-15 MB for a "
        "detector); sizes compile on first use.",
    )
    openvino_eager_compile: bool = Field(
        False,
        description="Compile every OpenVINO batch size at start-up (else on first use; each "
        "compiled size costs about 70 MB for the mesh model).",
    )
    batch_max_size: int = Field(
        8,
        ge=1,
        le=256,
        description="Micro-batching: most crops one model call takes from concurrent "
        "requests (a single larger request still runs as one call).",
    )
    batch_max_delay_us: int = Field(
        0,
        ge=0,
        le=1_000_000,
        description="Micro-batching: longest time an idle model waits for more requests "
        "before it runs what it has (requests that arrive while it is busy are batched anyway).",
    )
    inference_concurrency: int = Field(
        1,
        ge=1,
        le=64,
        description="Model calls allowed to run at once in one process (default 1 for "
        f"embedded, {TRITON_INFERENCE_CONCURRENCY} for triton so its dynamic batcher has "
        "calls to batch).",
    )
    triton_url: str = Field("localhost:8001", description="Triton endpoint (triton backend).")
    triton_protocol: Literal["grpc", "http"] = Field("grpc", description="Triton client protocol.")
    triton_timeout_s: float = Field(10.0, gt=0, description="Triton request timeout in seconds.")

    # --- results ------------------------------------------------------------------------
    score_threshold: float = Field(
        0.5, ge=0.0, le=1.0, description="Below this face score, landmarks are null."
    )

    # --- request limits -----------------------------------------------------------------
    max_body_bytes: int = Field(
        10 * 1024 * 1024, ge=1024, description="Largest request body, checked before decoding."
    )
    max_image_pixels: int = Field(
        16_000_000,
        ge=1024,
        le=PIL_MAX_IMAGE_PIXELS,
        description="Largest width*height, read from the image header before decoding.",
    )
    min_image_side: int = Field(32, ge=1, description="Smallest accepted width or height.")
    crops_max_images: int = Field(
        16,
        ge=1,
        le=256,
        # The old name FACEMESH_MAX_BATCH_IMAGES is still read (deprecated).
        validation_alias=AliasChoices(
            "crops_max_images", ENV_PREFIX + "CROPS_MAX_IMAGES", ENV_PREFIX + "MAX_BATCH_IMAGES"
        ),
        description="Most images in one /v1/crops request (a request limit; a model call's "
        "is batch_max_size).",
    )
    request_decode_bytes: int = Field(
        256 * 1024 * 1024,
        ge=1024 * 1024,
        description="Most memory one request's images may take decoded (estimated from each "
        "image header: pixels x bytes per pixel of its mode, plus the RGB copies); past it: "
        "413 decode_budget_exceeded, before any pixel is decoded.",
    )
    decode_memory_bytes: int = Field(
        512 * 1024 * 1024,
        ge=1024 * 1024,
        description="Process-wide budget of decoded-image memory: images wait for their share "
        "(at most queue_timeout_s, then 503 overloaded); one image over it alone gets 413.",
    )

    # --- slow and hostile clients (service/api/http_protocol.py, service/api/uploads.py) ---
    max_header_bytes: int = Field(
        16 * 1024,
        ge=1024,
        description="Largest request line + headers; past it: 431 and the connection closes.",
    )
    max_header_count: int = Field(
        100, ge=8, le=10_000, description="Most request header fields; past it: 431."
    )
    header_timeout_s: float = Field(
        10.0,
        gt=0,
        description="Longest time to receive a request's headers once the connection is idle "
        "(slowloris); past it: 408 if some bytes came, else the connection just closes.",
    )
    body_idle_timeout_s: float = Field(
        10.0, gt=0, description="Longest wait for the next chunk of a request body; past it: 408."
    )
    body_timeout_s: float = Field(
        60.0, gt=0, description="Longest time to receive a whole request body; past it: 408."
    )
    malloc_arena_max: int = Field(
        2,
        ge=0,
        le=64,
        description="glibc malloc arenas for the gateway process (0: glibc's default, 8 per "
        "core); few arenas keep RSS from creeping up under steady load (service/core/memory.py).",
    )
    keep_alive_timeout_s: int = Field(
        5, ge=1, le=600, description="An idle keep-alive connection closes after this long."
    )
    websocket_compression: bool = Field(
        False,
        description="Accept WebSocket permessage-deflate when a client offers it (browsers "
        "always do): answers shrink to about half, at about 1.4 ms CPU per tracked 720p frame "
        "to deflate the JSON answer (benchmarks/ws_deflate.py, provisional: measured on a busy "
        "machine), a large share of a tracked frame's CPU; off, frames and answers go "
        "uncompressed.",
    )

    # --- overload (per process; see service/core/admission.py) ------------------------------
    max_in_flight: int = Field(
        32, ge=1, le=4096, description="/v1 requests processed at once per process."
    )
    max_queue: int = Field(
        64, ge=0, le=65536, description="/v1 requests waiting for a slot; past it: 503 overloaded."
    )
    queue_timeout_s: float = Field(
        10.0, gt=0, description="Longest wait for a slot before 503 overloaded."
    )

    # --- access ---------------------------------------------------------------------------
    api_keys: Annotated[tuple[SecretStr, ...], NoDecode] = Field(
        (),
        description="Comma-separated API keys; empty: no authentication. When set, every /v1 "
        "route needs one (X-API-Key or Authorization: Bearer).",
    )
    cors_allow_origins: Annotated[tuple[str, ...], NoDecode] = Field(
        (), description="Comma-separated origins allowed by CORS (`*` for any); empty: no CORS."
    )

    # --- frames and tracking (/v1/frame, gRPC and WebSocket streams) -----------------------
    detector_model_name: str = Field(
        "face_detector", description="Face detector model name on Triton (triton backend)."
    )
    detector_model_path: Path = Field(
        REPO_ROOT / "model_repository" / "face_detector" / "1" / "model.onnx",
        description="Face detector ONNX file for the embedded backend.",
    )
    detector: DetectorKind = Field(
        SHORT_RANGE.name,
        description="Face detector a frame gets without ?detector=: MediaPipe's short-range "
        "model (faces within ~2 m) or its full-range model (small faces, 192x192 input).",
    )
    detector_full_model_path: Path = Field(
        REPO_ROOT / "model_repository" / "face_detector_full_range" / "1" / "model.onnx",
        description="Full-range face detector ONNX file (make detector-full; always run "
        "embedded, on FACEMESH_RUNTIME).",
    )
    max_faces: int = Field(
        16, ge=1, le=64, description="Most faces per frame; a request's max_faces is capped here."
    )
    detection_score_threshold: float = Field(
        0.5, ge=0.0, le=1.0, description="Detector confidence needed to look for a face."
    )
    detection_rotation_search: bool = Field(
        False,
        description="When the detector finds no face, search the frame again turned by 90, "
        "180 and 270 degrees (finds upside-down faces; not MediaPipe's behaviour).",
    )
    tracking_max_sessions: int = Field(
        64, ge=1, le=100_000, description="Tracking sessions (streams) open at once per process."
    )
    tracking_session_ttl_s: float = Field(
        60.0, gt=0, description="A tracking session idle this long expires."
    )
    tracking_first_frame_timeout_s: float = Field(
        10.0,
        gt=0,
        description="A gRPC tracking stream must send its first frame within this long (it "
        "holds no session until then); past it: DEADLINE_EXCEEDED. At most "
        "tracking_max_sessions streams wait for their first frame; past it: RESOURCE_EXHAUSTED.",
    )
    tracking_max_faces: int = Field(
        1,
        ge=1,
        le=64,
        description="Default faces tracked per session (the detector runs "
        "while fewer are tracked).",
    )
    tracking_smoothing: bool = Field(
        True,
        description="Smooth landmarks in tracking sessions (One Euro filter); off per session "
        "with ?smoothing=false (WebSocket) or Frame.smoothing=false (gRPC).",
    )
    smoothing_min_cutoff: float = Field(
        0.05, gt=0, description="One Euro min_cutoff (Hz): smoothing of a still face."
    )
    smoothing_beta: float = Field(
        40.0, ge=0, description="One Euro beta: cutoff rise per face size per second of speed."
    )
    smoothing_derivate_cutoff: float = Field(
        1.0, gt=0, description="One Euro derivate_cutoff (Hz): smoothing of the speed."
    )
    smoothing_frame_rate: float = Field(
        30.0, gt=0, le=1000, description="Frame rate (Hz) the filter assumes between frames."
    )
    camera_fov_degrees: float = Field(
        63.0,
        ge=CAMERA_FOV_DEGREES_MIN,
        le=CAMERA_FOV_DEGREES_MAX,
        description="Vertical field of view of the camera assumed for head pose (MediaPipe: 63; "
        "1 to 160 degrees).",
    )
    grpc_enabled: bool = Field(False, description="Serve the gRPC tracking stream.")
    grpc_port: int = Field(
        50051, ge=0, le=65535, description="gRPC port (0 picks a free one), same host as HTTP."
    )

    # --- web demo -----------------------------------------------------------------------
    demo_enabled: bool = Field(
        True,
        description="Serve the browser demo (webcam and photo modes) at `/demo/`; turn it off "
        "in production.",
    )

    # --- metrics ------------------------------------------------------------------------
    prometheus_multiproc_dir: Path | None = Field(
        None,
        validation_alias=AliasChoices(
            "PROMETHEUS_MULTIPROC_DIR", "FACEMESH_PROMETHEUS_MULTIPROC_DIR"
        ),
        description="prometheus_client multiprocess directory; set automatically when workers > 1.",
    )

    @field_validator("backend", mode="before")
    @classmethod
    def _backend_alias(cls, value: Any) -> Any:
        if value == "onnxruntime":
            logger.warning(
                "FACEMESH_BACKEND=onnxruntime is deprecated: use embedded (in process; the "
                "engine is FACEMESH_RUNTIME, OpenVINO by default)"
            )
            return "embedded"
        return value

    @field_validator("api_keys", "cors_allow_origins", "openvino_batch_sizes", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(item.strip() for item in value.split(",") if item.strip())
        return value

    @field_validator("openvino_batch_sizes")
    @classmethod
    def _check_batch_sizes(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        return check_batch_sizes(value)

    @model_validator(mode="before")
    @classmethod
    def _backend_default_concurrency(cls, data: Any) -> Any:
        if (
            isinstance(data, dict)
            and data.get("backend") == "triton"
            and data.get("inference_concurrency") is None
        ):
            return {**data, "inference_concurrency": TRITON_INFERENCE_CONCURRENCY}
        return data

    @property
    def loaded_pipelines(self) -> tuple[str, ...]:
        """``pipeline`` first, then those named in ``extra_pipelines``, without repeats."""
        extra = (name.strip() for name in self.extra_pipelines.split(","))
        return tuple(dict.fromkeys([self.pipeline, *(name for name in extra if name)]))

    @model_validator(mode="after")
    def _check_pipelines(self) -> Settings:
        unknown = set(self.loaded_pipelines) - set(PIPELINES)
        if unknown:
            raise ValueError(f"extra_pipelines: unknown pipelines {sorted(unknown)}")
        return self

    @model_validator(mode="after")
    def _check_limits(self) -> Settings:
        if self.min_image_side * self.min_image_side > self.max_image_pixels:
            raise ValueError("min_image_side**2 must not exceed max_image_pixels")
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()
