# syntax=docker/dockerfile:1
# Gateway image: FastAPI + embedded ONNX Runtime (CPU), model built from the authors' .tflite.
#   docker build -t facemesh-gateway .
#   docker run --rm -p 8000:8000 facemesh-gateway
# Settings are FACEMESH_* environment variables (README.md); FACEMESH_BACKEND=triton with
# FACEMESH_TRITON_URL points it at a Triton server instead.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build: full requirements, convert the model, then a runtime-only virtualenv ---------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY requirements.txt ./
RUN python -m venv /opt/build-venv \
    && /opt/build-venv/bin/pip install -r requirements.txt
COPY converter/ converter/
# Downloads the mediapipe wheel once, checks each .tflite's sha256 and converts, as `make model`
# does: the attention mesh, both face detectors (/v1/frame, tracking) and the cascade models.
RUN set -e; build() { /opt/build-venv/bin/python -m converter build "$@"; }; \
    build --output model_repository/facemesh/1/model.onnx; \
    build --model face_detection_short_range --output model_repository/face_detector/1/model.onnx; \
    build --model face_detection_full_range \
        --output model_repository/face_detector_full_range/1/model.onnx; \
    build --model face_landmark --output model_repository/face_landmark_cascade/1/model.onnx; \
    build --model iris_landmark --output model_repository/iris_landmark/1/model.onnx
# The web demo's mesh topology (/demo/mesh.json) from the same cached wheel, as `make demo-assets`.
RUN /opt/build-venv/bin/python -m converter mesh-topology --output service/demo/static/mesh.json
# gRPC stubs for the tracking stream (git-ignored, as `make proto`).
COPY service/tracking/tracking.proto service/tracking/tracking.proto
RUN /opt/build-venv/bin/python -m grpc_tools.protoc -I. --python_out=. --grpc_python_out=. \
    service/tracking/tracking.proto
# The runtime does not need the converter's or the stub generator's own dependencies.
RUN grep -vE '^(onnx|tflite|flatbuffers|rich|grpcio-tools)==' requirements.txt \
        > requirements-runtime.txt \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install -r requirements-runtime.txt

# ---- runtime: slim, non-root, healthchecked -------------------------------------------------
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
    FACEMESH_CASCADE_IRIS_PATH=/app/model_repository/iris_landmark/1/model.onnx
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --shell /usr/sbin/nologin app
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
# Model files only (Triton's config.pbtxt files stay out of the gateway image).
COPY --from=build /src/model_repository/ /app/model_repository/
COPY service/ /app/service/
COPY --from=build /src/service/tracking/tracking_pb2.py /src/service/tracking/tracking_pb2_grpc.py \
    /app/service/tracking/
COPY --from=build /src/service/demo/static/mesh.json /app/service/demo/static/mesh.json
USER 10001:10001
EXPOSE 8000
# Ready = model loaded and answering (503 otherwise); urlopen raises on any non-2xx.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('FACEMESH_PORT', '8000'), timeout=4)"]
CMD ["python", "-m", "service"]
