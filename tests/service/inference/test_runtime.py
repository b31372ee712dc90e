"""The runtime layer: OpenVINO against ONNX Runtime on every embedded model with real inputs
(golden crops, letterboxed frames, the cascade's eye crops), OpenVINO's batch buckets, the
runtime choice and ONNX Runtime's session options."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from service.contract import (
    ATTENTION_SPEC,
    CASCADE_MESH_SPEC,
    DETECTOR_SPECS,
    IRIS_SPEC,
    SHORT_RANGE,
    ModelSpec,
)
from service.core.config import Settings
from service.core.errors import BackendUnavailable
from service.inference.cascade import create_cascade_backend
from service.inference.detector import create_detector
from service.inference.runtime import (
    OnnxRuntimeRuntime,
    OpenVinoRuntime,
    RuntimeOptions,
    open_runtime,
    padded_size,
    plan_chunks,
    select_providers,
)
from service.processing.decode import decode_image
from service.processing.detection import letterbox
from service.processing.iris_refinement import crop_eyes, eye_rois
from tests.service.imagekit import CROPS, DATA

SETTINGS = Settings()
REPO_ROOT = Path(__file__).resolve().parents[3]
CPU = RuntimeOptions(device="cpu")
ORT = RuntimeOptions(runtime="onnxruntime", device="cpu")


def _crops() -> np.ndarray:
    from PIL import Image

    return np.stack(
        [np.asarray(Image.open(path).convert("RGB")) for path in sorted(CROPS.glob("*.png"))]
    )


def _letterboxed_frames() -> np.ndarray:
    frames = sorted((DATA / "frames").glob("*"))
    return np.stack(
        [
            letterbox(decode_image(path.read_bytes(), min_side=1, max_pixels=10**8))
            for path in frames
        ]
    )


def _paths() -> dict[str, tuple[Path, ModelSpec]]:
    return {
        "attention": (SETTINGS.model_path, ATTENTION_SPEC),
        "detector": (SETTINGS.detector_model_path, DETECTOR_SPECS[SHORT_RANGE.name]),
        "cascade mesh": (SETTINGS.cascade_mesh_path, CASCADE_MESH_SPEC),
        "cascade iris": (SETTINGS.cascade_iris_path, IRIS_SPEC),
    }


def _inputs(model: str) -> np.ndarray:
    crops = _crops()
    if model == "detector":
        return _letterboxed_frames()
    if model == "cascade iris":
        mesh = OnnxRuntimeRuntime(SETTINGS.cascade_mesh_path, CASCADE_MESH_SPEC, ORT).run(
            crops[:12]
        )
        return crop_eyes(crops[:12], eye_rois(mesh["mesh"]))
    return crops


# Largest difference allowed between the runtimes, in the outputs' own units (px of the
# model's input for landmarks; logits/scores otherwise). Measured: attention 0.0009 px.
PARITY_ATOL = 0.01


@pytest.mark.parametrize("model", list(_paths()))
def test_openvino_equals_onnxruntime_on_real_inputs(model: str) -> None:
    path, spec = _paths()[model]
    if not path.is_file():
        pytest.skip(f"{path} missing: run `{spec.build_hint}`")
    images = _inputs(model)
    openvino = OpenVinoRuntime(path, spec, CPU)
    reference = OnnxRuntimeRuntime(path, spec, ORT).run(images)
    got = openvino.run(images)  # more rows than the largest bucket: split in chunks
    for name, want in reference.items():
        assert got[name].shape == want.shape
        worst = float(np.abs(got[name] - want).max())
        print(f"{model} {name}: max |openvino - onnxruntime| = {worst:.6f}")
        assert worst <= PARITY_ATOL, (model, name, worst)


def test_padded_size() -> None:
    buckets = (1, 2, 4, 8, 16)
    assert [padded_size(n, buckets) for n in (1, 2, 3, 5, 8, 9, 16, 40)] == [
        1, 2, 4, 8, 8, 16, 16, 16,
    ]  # fmt: skip


def test_plan_chunks_never_pads_while_a_bucket_fits() -> None:
    assert plan_chunks(5, (1, 4, 8)) == [4, 1]
    assert plan_chunks(7, (1, 4, 8)) == [4, 1, 1, 1]
    assert plan_chunks(20, (1, 4, 8)) == [8, 8, 4]
    assert plan_chunks(3, (4, 8)) == [3]  # padded to 4
    assert plan_chunks(9, (4, 8)) == [8, 1]  # the 1 padded to 4
    assert plan_chunks(0, (1, 4)) == [0]


def test_buckets_compile_lazily_and_padding_is_dropped(model_path: Path) -> None:
    runtime = OpenVinoRuntime(model_path, ATTENTION_SPEC, RuntimeOptions(batch_sizes=(4, 8)))
    assert runtime.compiled_batch_sizes == ()
    crops = _crops()[:9]
    three = runtime.run(crops[:3])  # padded to 4, the padding row dropped
    assert runtime.compiled_batch_sizes == (4,)
    assert three["landmarks"].shape == (3, 478, 3)
    nine = runtime.run(crops)  # 8, then 1 padded to 4
    assert runtime.compiled_batch_sizes == (4, 8)
    assert nine["landmarks"].shape == (9, 478, 3)
    np.testing.assert_allclose(nine["landmarks"][:3], three["landmarks"], atol=1e-3)
    eager = OpenVinoRuntime(
        model_path, ATTENTION_SPEC, RuntimeOptions(batch_sizes=(1, 2), eager=True)
    )
    assert eager.compiled_batch_sizes == (1, 2)
    lazy = OpenVinoRuntime(model_path, ATTENTION_SPEC, RuntimeOptions(batch_sizes=(1, 4, 8)))
    lazy.run(crops[:5])  # 4 + 1: bucket 8 is never needed
    assert lazy.compiled_batch_sizes == (1, 4)


def test_buckets_must_ascend(model_path: Path) -> None:
    with pytest.raises(ValueError, match="ascending"):
        OpenVinoRuntime(model_path, ATTENTION_SPEC, RuntimeOptions(batch_sizes=(4, 1)))
    with pytest.raises(ValueError, match="ascending"):
        Settings(openvino_batch_sizes="8,2")


def test_concurrent_calls_get_their_own_rows(model_path: Path) -> None:
    """Two threads on one runtime (one infer request each) never see each other's outputs."""
    from concurrent.futures import ThreadPoolExecutor

    runtime = OpenVinoRuntime(model_path, ATTENTION_SPEC, RuntimeOptions(threads=1))
    crops = _crops()[:8]
    want = [runtime.run(crops[i : i + 1])["landmarks"][0] for i in range(len(crops))]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda i: runtime.run(crops[i : i + 1])["landmarks"][0], range(8)))
    for index in range(len(crops)):
        np.testing.assert_allclose(got[index], want[index], atol=1e-4)


def test_model_off_spec_is_backend_unavailable(model_path: Path) -> None:
    wrong = ModelSpec("attention mesh", 192, {"no_such_output": (1,)})
    for runtime in (OpenVinoRuntime, OnnxRuntimeRuntime):
        with pytest.raises(BackendUnavailable, match="lacks outputs"):
            runtime(model_path, wrong, CPU)


def test_cuda_always_runs_onnxruntime(model_path: Path) -> None:
    """device=cuda with runtime=openvino is ONNX Runtime's CUDA provider (absent here)."""
    options = RuntimeOptions(runtime="openvino", device="cuda")
    with pytest.raises(BackendUnavailable, match="device=cuda but onnxruntime offers"):
        open_runtime(model_path, ATTENTION_SPEC, options)


def test_provider_selection() -> None:
    cpu_only = ["CPUExecutionProvider"]
    with_cuda = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert select_providers("auto", cpu_only) == cpu_only
    assert select_providers("auto", with_cuda) == with_cuda
    assert select_providers("cpu", with_cuda) == cpu_only
    with pytest.raises(BackendUnavailable):
        select_providers("cuda", cpu_only)


def _spinning(runtime: object) -> str:
    assert isinstance(runtime, OnnxRuntimeRuntime)
    options = runtime._session.get_session_options()
    return str(options.get_session_config_entry("session.intra_op.allow_spinning"))


@pytest.mark.parametrize("spinning", [True, False])
def test_every_onnxruntime_session_honours_spinning(spinning: bool) -> None:
    """Mesh, detector and both cascade models (the detector and cascade used to ignore it)."""
    settings = Settings(runtime="onnxruntime", device="cpu", intra_op_spinning=spinning)
    for path in (settings.detector_model_path, settings.cascade_mesh_path):
        if not path.is_file():
            pytest.skip(f"{path} missing")
    want = "1" if spinning else "0"
    mesh = OnnxRuntimeRuntime(
        settings.model_path, ATTENTION_SPEC, RuntimeOptions.from_settings(settings)
    )
    detector = create_detector(settings)
    cascade = create_cascade_backend(settings)
    runtimes = [mesh, detector.runtime, cascade._mesh, cascade._iris]  # type: ignore[attr-defined]
    assert [_spinning(runtime) for runtime in runtimes] == [want] * 4


def test_openvino_compiles_f32_with_one_stream_per_concurrent_call(model_path: Path) -> None:
    """f32 whatever the CPU offers (bf16 moves landmarks by pixels), and as many streams as
    calls may run at once (a stream runs one request at a time)."""
    options = RuntimeOptions(streams=2, threads=1, batch_sizes=(1,), eager=True)
    compiled = OpenVinoRuntime(model_path, ATTENTION_SPEC, options)._compiled[1].compiled
    assert str(compiled.get_property("INFERENCE_PRECISION_HINT")) == "<Type: 'float32'>"
    assert int(compiled.get_property("NUM_STREAMS")) == 2
    assert int(compiled.get_property("INFERENCE_NUM_THREADS")) == 2


def test_detectors_compile_only_the_small_buckets() -> None:
    """A frame is one detector row (three with the rotation search), and 2-3 concurrent
    stills batch together: the detectors compile 1 to 4 and skip the memory of the mesh
    model's larger buckets."""
    if not SETTINGS.detector_model_path.is_file():
        pytest.skip("detector not built: make model")
    detector = create_detector(Settings(device="cpu"))
    assert detector.runtime.batch_sizes == (1, 2, 3, 4)  # type: ignore[attr-defined]
    only_eight = create_detector(Settings(device="cpu", openvino_batch_sizes="8,16"))
    assert only_eight.runtime.batch_sizes == (8,)  # type: ignore[attr-defined]


def test_cascade_compiles_the_small_buckets_unless_it_is_the_default() -> None:
    for path in (SETTINGS.cascade_mesh_path, SETTINGS.cascade_iris_path):
        if not path.is_file():
            pytest.skip(f"{path} missing")
    extra = create_cascade_backend(Settings(device="cpu", extra_pipelines="cascade"))
    default = create_cascade_backend(Settings(device="cpu", pipeline="cascade"))
    assert extra._mesh.batch_sizes == extra._iris.batch_sizes == (1, 2, 3, 4)  # type: ignore[attr-defined]
    assert default._mesh.batch_sizes == (1, 2, 3, 4, 8)  # type: ignore[attr-defined]


def test_openvino_never_loads_onnxruntime_without_its_gpu_package(model_path: Path) -> None:
    """device=auto asks whether ONNX Runtime offers CUDA: only onnxruntime-gpu can, so without
    it the question costs no import (ONNX Runtime holds about 20 MB when loaded)."""
    import importlib.metadata
    import subprocess
    import sys

    try:
        importlib.metadata.distribution("onnxruntime-gpu")
        pytest.skip("onnxruntime-gpu installed: ONNX Runtime is asked for CUDA")
    except importlib.metadata.PackageNotFoundError:
        pass
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from service.contract import ATTENTION_SPEC\n"
        "from service.inference.runtime import RuntimeOptions, open_runtime\n"
        f"runtime = open_runtime(Path({str(model_path)!r}), ATTENTION_SPEC, RuntimeOptions())\n"
        "print(runtime.name, 'onnxruntime' in sys.modules)\n"
    )
    answer = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT
    ).stdout.split()
    assert answer == ["openvino", "False"]
