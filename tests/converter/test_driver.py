"""The converted graph honours the model contract and uses only standard ONNX."""

from __future__ import annotations

import onnx

from converter.contract import OUTPUT_SHAPES
from converter.summary import summarize


def dims(value: onnx.ValueInfoProto) -> list[int | str]:
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]


def test_input_is_uint8_nhwc_with_dynamic_batch(attention_onnx: onnx.ModelProto) -> None:
    (image,) = attention_onnx.graph.input
    assert image.name == "image"
    assert image.type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert dims(image) == ["N", 192, 192, 3]


def test_outputs_match_the_contract(attention_onnx: onnx.ModelProto) -> None:
    outputs = {o.name: o for o in attention_onnx.graph.output}
    assert list(outputs) == list(OUTPUT_SHAPES)
    for name, shape in OUTPUT_SHAPES.items():
        assert outputs[name].type.tensor_type.elem_type == onnx.TensorProto.FLOAT, name
        assert dims(outputs[name]) == ["N", *shape], name


def test_only_standard_onnx_ops(attention_onnx: onnx.ModelProto) -> None:
    assert {o.domain for o in attention_onnx.opset_import} == {""}
    assert {n.domain for n in attention_onnx.graph.node} == {""}
    assert "GridSample" in {n.op_type for n in attention_onnx.graph.node}


def test_convolutions_run_nchw_with_a_single_layout_transpose(
    attention_onnx: onnx.ModelProto,
) -> None:
    """The only 4-D (NHWC<->NCHW) Transpose in the graph is the one on the image input."""
    layout_transposes = [
        n
        for n in attention_onnx.graph.node
        if n.op_type == "Transpose" and len(onnx.helper.get_attribute_value(n.attribute[0])) == 4
    ]
    assert [n.input[0] for n in layout_transposes] == ["image"]


def test_summary_counts_the_backbone(attention_onnx: onnx.ModelProto) -> None:
    summary = summarize(attention_onnx)
    assert summary.op_counts["Conv"] == 146  # 80 CONV_2D + 66 DEPTHWISE_CONV_2D
    assert summary.op_counts["GridSample"] == 3
    assert 1_000_000 < summary.parameters < 1_500_000
    assert summary.macs > 10_000_000
    assert "MACs" in summary.format()
