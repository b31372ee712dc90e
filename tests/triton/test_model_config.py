"""``model_repository/facemesh`` configs, parsed with Triton's own protobuf, against the ONNX file.

A config that disagrees with the model fails at Triton load time in production (or worse,
silently reshapes); these tests catch it in CI without a GPU or the onnxruntime backend.
"""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from google.protobuf import text_format
from onnx import TensorProto, helper
from tritonclient.grpc import model_config_pb2 as mc

from service.core.config import Settings
from service.inference.base import MODEL_INPUT_NAME, MODEL_INPUT_SIZE, MODEL_OUTPUTS
from tests.triton.triton_local import PRODUCTION_CONFIG, local_model_config

CPU_CONFIG = PRODUCTION_CONFIG.parent / "configs" / "cpu.pbtxt"

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


@pytest.fixture(scope="module")
def onnx_model(model_path: Path) -> onnx.ModelProto:
    return onnx.load(str(model_path), load_external_data=False)


@pytest.mark.parametrize("path", [PRODUCTION_CONFIG, CPU_CONFIG], ids=["gpu", "cpu"])
def test_config_matches_the_onnx_file(path: Path, onnx_model: onnx.ModelProto) -> None:
    assert mismatches(parse(path), onnx_model) == []


@pytest.mark.parametrize("path", [PRODUCTION_CONFIG, CPU_CONFIG], ids=["gpu", "cpu"])
def test_config_matches_the_model_contract(path: Path) -> None:
    config = parse(path)
    assert config.name == "facemesh"
    assert config.backend == "onnxruntime"
    assert [(t.name, t.data_type, list(t.dims)) for t in config.input] == [
        (MODEL_INPUT_NAME, mc.TYPE_UINT8, [MODEL_INPUT_SIZE, MODEL_INPUT_SIZE, 3])
    ]
    for tensor in config.output:
        assert tensor.data_type == mc.TYPE_FP32
        model_side = (
            tuple(tensor.reshape.shape) if tensor.HasField("reshape") else tuple(tensor.dims)
        )
        assert model_side == MODEL_OUTPUTS[tensor.name], tensor.name
    assert [t.name for t in config.output] == list(MODEL_OUTPUTS)
    # The gateway may send its largest batch in one request.
    assert config.max_batch_size >= Settings().max_batch_images
    assert config.HasField("dynamic_batching")


@pytest.mark.parametrize("path", [PRODUCTION_CONFIG, CPU_CONFIG], ids=["gpu", "cpu"])
def test_warmup_requests_fit_the_input(path: Path) -> None:
    config = parse(path)
    assert config.model_warmup, "warm-up keeps the first client request off the cold path"
    for warmup in config.model_warmup:
        assert 1 <= warmup.batch_size <= config.max_batch_size
        assert list(warmup.inputs) == [MODEL_INPUT_NAME]
        data = warmup.inputs[MODEL_INPUT_NAME]
        assert data.data_type == config.input[0].data_type
        assert list(data.dims) == list(config.input[0].dims)


def test_instance_kinds() -> None:
    assert {g.kind for g in parse(PRODUCTION_CONFIG).instance_group} == {
        mc.ModelInstanceGroup.KIND_GPU
    }
    assert {g.kind for g in parse(CPU_CONFIG).instance_group} == {mc.ModelInstanceGroup.KIND_CPU}


def test_cpu_config_differs_only_in_placement() -> None:
    gpu, cpu = parse(PRODUCTION_CONFIG), parse(CPU_CONFIG)
    for config in (gpu, cpu):
        config.ClearField("instance_group")
        config.ClearField("parameters")
    assert text_format.MessageToString(cpu) == text_format.MessageToString(gpu)


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
