"""Assembles the model contract's named outputs from the converted TFLite outputs.

Output names, shapes and meaning are documented in ``converter/README.md``.
"""

from __future__ import annotations

import onnx

from converter import refinement
from converter.context import ConversionContext
from converter.errors import ConversionError
from converter.outputs import NamedOutput, emit_named, emit_outputs, value_infos

# Outputs taken straight from TFLite tensors (see README's contract table).
TFLITE_OUTPUTS: dict[str, NamedOutput] = {
    "mesh": NamedOutput("output_mesh_identity", (468, 3)),
    "lips": NamedOutput("output_lips", (80, 2)),
    "left_eye": NamedOutput("output_left_eye", (71, 2)),
    "right_eye": NamedOutput("output_right_eye", (71, 2)),
    "left_iris": NamedOutput("output_left_iris", (5, 2)),
    "right_iris": NamedOutput("output_right_iris", (5, 2)),
}
FACE_SCORE = NamedOutput("conv_faceflag", (), sigmoid=True)
REGION_ORDER = ("lips", "left_eye", "right_eye")

OUTPUT_SHAPES: dict[str, tuple[int, ...]] = {
    "landmarks": (478, 3),
    **{name: spec.shape for name, spec in TFLITE_OUTPUTS.items()},
    "region_transforms": (3, 4, 4),
    "face_score": (),
}


def assemble_outputs(ctx: ConversionContext) -> list[onnx.ValueInfoProto]:
    """Emit the attention model's contract outputs; returns their value infos (batch ``N``)."""
    emit_outputs(ctx, {**TFLITE_OUTPUTS, "face_score": FACE_SCORE})
    _emit_region_transforms(ctx)
    _emit_landmarks(ctx)
    return value_infos(OUTPUT_SHAPES)


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
    emit_named(ctx, "Concat", stacked, "region_transforms", axis=1)


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
    emit_named(ctx, "Concat", [xy, z], "landmarks", axis=2)
