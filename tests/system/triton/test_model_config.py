"""``model_repository`` configs (every model Triton serves), parsed with Triton's own protobuf,
against the ONNX file.

A config that disagrees with the model fails at Triton load time in production (or worse,
silently reshapes); these tests catch it in CI without a GPU or the onnxruntime backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import pytest
from google.protobuf import text_format
from onnx import TensorProto, helper
from tritonclient.grpc import model_config_pb2 as mc

from service.contract import (
    ATTENTION_SPEC,
    BLENDSHAPES_SPEC,
    DETECTOR_SPECS,
    LANDMARKER_SPEC,
    MODEL_OUTPUTS,
    SHORT_RANGE,
    ModelSpec,
)
from service.core.config import Settings
from service.processing.detection import turned_letterboxes
from tools.servers.triton import PRODUCTION_CONFIG, local_model_config

REPOSITORY = PRODUCTION_CONFIG.parents[1]


@dataclass(frozen=True)
class Contract:
    """What the gateway sends and expects, per model Triton serves."""

    input_name: str
    input_dims: tuple[int, ...]
    outputs: dict[str, tuple[int, ...]]
    input_type: int = mc.TYPE_UINT8


TRITON_TYPES = {"uint8": mc.TYPE_UINT8, "float32": mc.TYPE_FP32}


def _contract(spec: ModelSpec) -> Contract:
    return Contract(
        spec.input_name, spec.input_shape, dict(spec.outputs), TRITON_TYPES[spec.input_dtype]
    )


CONTRACTS = {
    "facemesh": _contract(ATTENTION_SPEC),
    "face_detector": _contract(DETECTOR_SPECS[SHORT_RANGE.name]),
    "face_landmarker": _contract(LANDMARKER_SPEC),
    "face_blendshapes": _contract(BLENDSHAPES_SPEC),
}
# (model, config file) for every config Triton may load: config.pbtxt and configs/*.pbtxt.
CONFIGS = [
    (model, path)
    for model in CONTRACTS
    for path in [
        REPOSITORY / model / "config.pbtxt",
        *(REPOSITORY / model / "configs").glob("*.pbtxt"),
    ]
]
CONFIG_IDS = [f"{model}/{path.relative_to(REPOSITORY / model)}" for model, path in CONFIGS]


ONNX_TO_TRITON = {
    TensorProto.UINT8: mc.TYPE_UINT8,
    TensorProto.FLOAT: mc.TYPE_FP32,
    TensorProto.FLOAT16: mc.TYPE_FP16,
}


def parse(path: Path) -> mc.ModelConfig:
    config = mc.ModelConfig()
    text_format.Parse(path.read_text(), config)
    return config


def onnx_tensors(model: onnx.ModelProto, which: str) -> dict[str, tuple[int, list[int | str]]]:
    """name -> (ONNX elem type, dims with dim_param names for symbolic dims)."""
    tensors = {}
    for value in getattr(model.graph, which):
        tensor_type = value.type.tensor_type
        dims: list[int | str] = [
            dim.dim_param
            if dim.HasField("dim_param") or not dim.HasField("dim_value")
            else dim.dim_value
            for dim in tensor_type.shape.dim
        ]
        tensors[value.name] = (tensor_type.elem_type, dims)
    return tensors


def mismatches(config: mc.ModelConfig, model: onnx.ModelProto) -> list[str]:
    """Every way ``config`` disagrees with the ONNX graph's inputs and outputs."""
    problems: list[str] = []
    for kind, declared, actual in (
        ("input", config.input, onnx_tensors(model, "input")),
        ("output", config.output, onnx_tensors(model, "output")),
    ):
        names = {tensor.name for tensor in declared}
        if names != set(actual):
            problems.append(f"{kind} names {sorted(names)} != ONNX {sorted(actual)}")
        for tensor in declared:
            if tensor.name not in actual:
                continue
            elem_type, dims = actual[tensor.name]
            if ONNX_TO_TRITON.get(elem_type) != tensor.data_type:
                problems.append(
                    f"{kind} {tensor.name}: dtype {tensor.data_type} vs ONNX {elem_type}"
                )
            # Triton dims exclude the batch dim; a reshape gives the model-side shape.
            model_side = (
                list(tensor.reshape.shape) if tensor.HasField("reshape") else list(tensor.dims)
            )
            if not dims or isinstance(dims[0], int) or dims[1:] != model_side:
                problems.append(f"{kind} {tensor.name}: dims [N,{model_side}] vs ONNX {dims}")
    return problems


def onnx_for(model: str) -> onnx.ModelProto:
    path = REPOSITORY / model / "1" / "model.onnx"
    if not path.is_file():
        pytest.skip(f"{path} missing: run `make model` (make test does)")
    return onnx.load(str(path), load_external_data=False)


def test_every_served_model_has_a_contract() -> None:
    served = {path.parent.name for path in REPOSITORY.glob("*/config.pbtxt")}
    assert served == set(CONTRACTS)


@pytest.mark.parametrize(("model", "path"), CONFIGS, ids=CONFIG_IDS)
def test_config_matches_the_onnx_file(model: str, path: Path) -> None:
    assert mismatches(parse(path), onnx_for(model)) == []


@pytest.mark.parametrize(("model", "path"), CONFIGS, ids=CONFIG_IDS)
def test_config_matches_the_gateway_contract(model: str, path: Path) -> None:
    contract, config = CONTRACTS[model], parse(path)
    assert config.name == model
    # GPU: ONNX Runtime (CUDA); CPU: OpenVINO (configs/cpu.pbtxt).
    assert config.backend == ("openvino" if path.parent.name == "configs" else "onnxruntime")
    assert [(t.name, t.data_type, tuple(t.dims)) for t in config.input] == [
        (contract.input_name, contract.input_type, contract.input_dims)
    ]
    for tensor in config.output:
        assert tensor.data_type == mc.TYPE_FP32
        model_side = (
            tuple(tensor.reshape.shape) if tensor.HasField("reshape") else tuple(tensor.dims)
        )
        assert model_side == contract.outputs[tensor.name], tensor.name
    assert [t.name for t in config.output] == list(contract.outputs)
    assert config.max_batch_size >= 1
    assert config.HasField("dynamic_batching")


def test_facemesh_takes_the_largest_gateway_batch() -> None:
    assert parse(PRODUCTION_CONFIG).max_batch_size >= Settings().crops_max_images


def test_face_detector_takes_the_rotation_search_batch() -> None:
    """The rotation search sends the three turned frames in one detector call."""
    turned = turned_letterboxes(np.zeros((64, 48, 3), dtype=np.uint8))
    for model, path in CONFIGS:
        if model == "face_detector":
            assert parse(path).max_batch_size >= len(turned), path


@pytest.mark.parametrize(("model", "path"), CONFIGS, ids=CONFIG_IDS)
def test_warmup_requests_fit_the_input(model: str, path: Path) -> None:
    config = parse(path)
    assert config.model_warmup, "warm-up keeps the first client request off the cold path"
    for warmup in config.model_warmup:
        assert 1 <= warmup.batch_size <= config.max_batch_size
        assert list(warmup.inputs) == [config.input[0].name]
        data = warmup.inputs[config.input[0].name]
        assert data.data_type == config.input[0].data_type
        assert list(data.dims) == list(config.input[0].dims)


@pytest.mark.parametrize("model", list(CONTRACTS))
def test_instance_kinds(model: str) -> None:
    gpu = parse(REPOSITORY / model / "config.pbtxt")
    cpu = parse(REPOSITORY / model / "configs" / "cpu.pbtxt")
    assert {g.kind for g in gpu.instance_group} == {mc.ModelInstanceGroup.KIND_GPU}
    assert {g.kind for g in cpu.instance_group} == {mc.ModelInstanceGroup.KIND_CPU}


@pytest.mark.parametrize("model", list(CONTRACTS))
def test_cpu_config_serves_the_gpu_configs_tensors(model: str) -> None:
    """Same name, tensors and version policy: a client cannot tell the variants apart."""
    gpu = parse(REPOSITORY / model / "config.pbtxt")
    cpu = parse(REPOSITORY / model / "configs" / "cpu.pbtxt")
    for field in ("name", "input", "output", "version_policy"):
        assert getattr(cpu, field) == getattr(gpu, field), field


def _parameters(config: mc.ModelConfig) -> dict[str, str]:
    return {key: value.string_value for key, value in config.parameters.items()}


@pytest.mark.parametrize("model", list(CONTRACTS))
def test_cpu_config_runs_openvino_static_and_f32(model: str) -> None:
    """The OpenVINO variant: the ONNX file as is, one static batch shape (padded), the f32
    precision hint, and warm-up/batching at that one shape."""
    cpu = parse(REPOSITORY / model / "configs" / "cpu.pbtxt")
    parameters = _parameters(cpu)
    assert cpu.backend == "openvino"
    assert cpu.default_model_filename == "model.onnx"
    assert parameters["INFERENCE_PRECISION_HINT"] == "f32"
    assert "HINT_BF16" not in parameters
    assert parameters["SKIP_OV_DYNAMIC_BATCHSIZE"] == parameters["ENABLE_BATCH_PADDING"] == "YES"
    assert {warmup.batch_size for warmup in cpu.model_warmup} == {cpu.max_batch_size}
    assert list(cpu.dynamic_batching.preferred_batch_size) == [cpu.max_batch_size]
    assert int(parameters["NUM_STREAMS"]) >= 1 and int(parameters["INFERENCE_NUM_THREADS"]) >= 1


def test_local_test_config_serves_the_same_contract() -> None:
    """The Python-backend config the local Triton serves keeps every client-visible field."""
    production, local = parse(PRODUCTION_CONFIG), local_model_config()
    assert local.backend == "python"
    for config in (production, local):
        for field in ("backend", "instance_group", "parameters", "optimization", "model_warmup"):
            config.ClearField(field)
    assert text_format.MessageToString(local) == text_format.MessageToString(production)


def test_checker_reports_a_wrong_model(tmp_path: Path) -> None:
    """The ONNX check above is not vacuous: a renamed output and a wrong dtype are caught."""
    outputs = [
        helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", *shape])
        for name, shape in MODEL_OUTPUTS.items()
        if name != "lips"
    ]
    outputs.append(helper.make_tensor_value_info("mouth", TensorProto.FLOAT, ["N", 80, 2]))
    outputs[0] = helper.make_tensor_value_info("landmarks", TensorProto.FLOAT16, ["N", 478, 3])
    graph = helper.make_graph(
        [],
        "wrong",
        [helper.make_tensor_value_info("image", TensorProto.UINT8, ["N", 192, 192, 3])],
        outputs,
    )
    problems = mismatches(parse(PRODUCTION_CONFIG), helper.make_model(graph))
    assert any("output names" in problem for problem in problems)
    assert any(problem.startswith("output landmarks: dtype") for problem in problems)
