"""Assembles the model contract's named outputs from the converted TFLite outputs.

Output names, shapes and meaning are documented in ``converter/README.md``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper

from converter import refinement
from converter.context import ConversionContext
from converter.errors import ConversionError

# contract name -> (TFLite output tensor, per-item shape)
TFLITE_OUTPUTS: dict[str, tuple[str, tuple[int, ...]]] = {
    "mesh": ("output_mesh_identity", (468, 3)),
    "lips": ("output_lips", (80, 2)),
    "left_eye": ("output_left_eye", (71, 2)),
    "right_eye": ("output_right_eye", (71, 2)),
    "left_iris": ("output_left_iris", (5, 2)),
    "right_iris": ("output_right_iris", (5, 2)),
}
FACE_FLAG_TENSOR = "conv_faceflag"
REGION_ORDER = ("lips", "left_eye", "right_eye")

OUTPUT_SHAPES: dict[str, tuple[int, ...]] = {
    "landmarks": (478, 3),
    **{name: shape for name, (_, shape) in TFLITE_OUTPUTS.items()},
    "region_transforms": (3, 4, 4),
    "face_score": (),
}


def _float32_flat(ctx: ConversionContext, index: int) -> str:
    """A TFLite output tensor as float32, ready for a Reshape ([N,1,1,K] and [N,K,1,1] flatten
    identically)."""
    value = ctx.value(index)
    shape = ctx.tensor(index).shape
    unit = len(shape) == 4 and shape[1:3] == (1, 1)
    name = value.name if (value.layout == "TFLITE" or unit) else ctx.as_tflite(index)
    if value.dtype != np.float32:
        name = ctx.cast(name, np.dtype(np.float32), "out")
    return name


def _emit(
    ctx: ConversionContext, op_type: str, inputs: list[str], output: str, **attrs: Any
) -> None:
    ctx.nodes.append(helper.make_node(op_type, inputs, [output], name=output, **attrs))


def assemble_outputs(ctx: ConversionContext) -> list[onnx.ValueInfoProto]:
    """Emit the contract outputs; returns their value infos (batch dimension ``N``)."""
    by_name = {ctx.tensor(i).name: i for i in ctx.model.outputs}
    missing = [t for t, _ in TFLITE_OUTPUTS.values() if t not in by_name]
    if missing or FACE_FLAG_TENSOR not in by_name:
        raise ConversionError(f"TFLite model lacks outputs {missing or [FACE_FLAG_TENSOR]}")

    for name, (tensor, shape) in TFLITE_OUTPUTS.items():
        _emit(
            ctx,
            "Reshape",
            [_float32_flat(ctx, by_name[tensor]), ctx.int64s([0, *shape], name)],
            name,
        )
    logit = ctx.node(
        "Reshape",
        [_float32_flat(ctx, by_name[FACE_FLAG_TENSOR]), ctx.int64s([-1], "faceflag")],
        "faceflag_logit",
    )
    _emit(ctx, "Sigmoid", [logit], "face_score")

    _emit_region_transforms(ctx)
    _emit_landmarks(ctx)

    return [
        helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", *shape])
        for name, shape in OUTPUT_SHAPES.items()
    ]


def _emit_region_transforms(ctx: ConversionContext) -> None:
    expected = {
        "lips": refinement.LIPS,
        "left_eye": refinement.LEFT_EYE,
        "right_eye": refinement.RIGHT_EYE,
    }
    matrices: dict[str, str] = {}
    for record in ctx.records.get("landmarks_to_transform_matrix", []):
        region = next((r for r, idx in expected.items() if tuple(record["subset"]) == idx), None)
        if region is None:
            raise ConversionError(
                f"Landmarks2TransformMatrix #{record['op']} subset matches no refinement list"
            )
        matrices[region] = record["output"]
    if sorted(matrices) != sorted(REGION_ORDER):
        raise ConversionError(f"expected region matrices {REGION_ORDER}, found {sorted(matrices)}")
    axis = ctx.int64s([1], "region_axis")
    stacked = [ctx.node("Unsqueeze", [matrices[r], axis], f"{r}_transform") for r in REGION_ORDER]
    _emit(ctx, "Concat", stacked, "region_transforms", axis=1)


def _emit_landmarks(ctx: ConversionContext) -> None:
    """478 points exactly as MediaPipe's LandmarksRefinementCalculator assembles them."""
    mesh_xy = ctx.node(
        "Slice", ["mesh", *(ctx.int64s(v, "mesh_xy") for v in ([0], [2], [2]))], "mesh_xy"
    )
    mesh_z = ctx.node(
        "Slice", ["mesh", *(ctx.int64s(v, "mesh_z") for v in ([2], [3], [2]))], "mesh_z"
    )
    sources = [mesh_xy, *(region for region, _ in refinement.REGIONS)]
    stacked = ctx.node("Concat", sources, "all_xy", axis=1)
    xy = ctx.node(
        "Gather",
        [stacked, ctx.int64s(refinement.xy_source_rows().tolist(), "xy_rows")],
        "refined_xy",
        axis=1,
    )
    depths = [mesh_z]
    for eye, iris in (
        (refinement.LEFT_EYE, refinement.LEFT_IRIS),
        (refinement.RIGHT_EYE, refinement.RIGHT_IRIS),
    ):
        around = ctx.node(
            "Gather",
            [mesh_z, ctx.int64s(list(eye[: refinement.IRIS_DEPTH_SOURCES]), "iris_z_src")],
            "iris_z_src",
            axis=1,
        )
        mean = ctx.node("ReduceMean", [around], "iris_z_mean", axes=[1], keepdims=1)  # [N,1,1]
        depths.append(
            ctx.node("Gather", [mean, ctx.int64s([0] * len(iris), "iris_z")], "iris_z", axis=1)
        )
    z = ctx.node("Concat", depths, "refined_z", axis=1)
    _emit(ctx, "Concat", [xy, z], "landmarks", axis=2)
