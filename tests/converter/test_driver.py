"""The converted graph honours the model contract and uses only standard ONNX."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort

from converter.driver import convert
from converter.summary import summarize
from converter.tflite_model import TFLiteModel
from service.contract import MODEL_OUTPUTS
from tests.converter.conftest import DATA, load_rgb


def dims(value: onnx.ValueInfoProto) -> list[int | str]:
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]


def test_input_is_uint8_nhwc_with_dynamic_batch(attention_onnx: onnx.ModelProto) -> None:
    (image,) = attention_onnx.graph.input
    assert image.name == "image"
    assert image.type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert dims(image) == ["N", 192, 192, 3]


def test_outputs_match_the_contract(attention_onnx: onnx.ModelProto) -> None:
    outputs = {o.name: o for o in attention_onnx.graph.output}
    assert list(outputs) == list(MODEL_OUTPUTS)
    for name, shape in MODEL_OUTPUTS.items():
        assert outputs[name].type.tensor_type.elem_type == onnx.TensorProto.FLOAT, name
        assert dims(outputs[name]) == ["N", *shape], name


def test_only_standard_onnx_ops(attention_onnx: onnx.ModelProto) -> None:
    assert {o.domain for o in attention_onnx.opset_import} == {""}
    assert {n.domain for n in attention_onnx.graph.node} == {""}


def test_convolutions_run_nchw_with_a_single_layout_transpose(
    attention_onnx: onnx.ModelProto,
) -> None:
    """4-D (NHWC<->NCHW) Transposes: the image input, plus one NHWC copy of the 48x48x32
    feature map that the three attention crops gather rows from."""
    layout_transposes = [
        n
        for n in attention_onnx.graph.node
        if n.op_type == "Transpose" and len(onnx.helper.get_attribute_value(n.attribute[0])) == 4
    ]
    assert len(layout_transposes) == 2
    assert layout_transposes[0].input[0] == "image"
    assert layout_transposes[1].name.startswith("p_re_lu_3_tflite")  # the cropped feature map


def test_summary_counts_the_backbone(attention_onnx: onnx.ModelProto) -> None:
    summary = summarize(attention_onnx)
    assert summary.op_counts["Conv"] == 146  # 80 CONV_2D + 66 DEPTHWISE_CONV_2D
    assert summary.op_counts["Gather"] >= 3  # one row gather per attention crop
    assert 1_000_000 < summary.parameters < 1_500_000
    assert summary.macs > 10_000_000
    assert "MACs" in summary.format()


def test_both_samplers_and_prelu_forms_agree(attention_tflite: TFLiteModel) -> None:
    """GridSample and Gather sampling, native and decomposed PReLU: same outputs."""
    image = np.stack(
        [
            load_rgb(DATA / "crops" / "takeo_face0_rot+30.png"),
            load_rgb(DATA / "crops" / "lenna_face0.png"),
        ]
    )
    results = []
    for options in ({}, {"sampler": "gridsample"}, {"native_prelu": True}):
        model = convert(attention_tflite, **options)  # type: ignore[arg-type]
        assert ("GridSample" in {n.op_type for n in model.graph.node}) == bool(
            options.get("sampler")
        )
        session = ort.InferenceSession(
            model.SerializeToString(), providers=["CPUExecutionProvider"]
        )
        results.append(session.run(["landmarks", "region_transforms"], {"image": image}))
    for other in results[1:]:
        for got, expected in zip(other, results[0], strict=True):
            np.testing.assert_allclose(got, expected, atol=1e-3)


def test_fp16_build_stores_half_weights_and_stays_close(attention_tflite: TFLiteModel) -> None:
    """--fp16 (for GPUs): float16 weights, float32 contract outputs, sub-pixel agreement."""
    half = convert(attention_tflite, fp16=True)
    weight_types = {t.data_type for t in half.graph.initializer if t.dims and len(t.dims) == 4}
    assert weight_types == {onnx.TensorProto.FLOAT16}
    assert {o.type.tensor_type.elem_type for o in half.graph.output} == {onnx.TensorProto.FLOAT}
    images = np.stack([load_rgb(p) for p in sorted((DATA / "crops").glob("*face0.png"))[:6]])
    results = []
    for model in (half, convert(attention_tflite)):
        session = ort.InferenceSession(
            model.SerializeToString(), providers=["CPUExecutionProvider"]
        )
        results.append(session.run(["landmarks"], {"image": images})[0])
    error = np.abs(results[0] - results[1])
    print(f"\nfp16 vs fp32 landmarks: mean {error.mean():.4f} px, max {error.max():.4f} px")
    assert error.mean() < 0.05 and error.max() < 0.5
