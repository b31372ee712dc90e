"""Assembles the attention model's contract outputs from the converted TFLite outputs.

Names, shapes and index lists come from ``service.contract`` (their one home); meaning is
documented in ``converter/README.md`` (model contract) and ``docs/mediapipe_semantics.md``.
MediaPipe's landmark refinement (``LandmarksRefinementCalculator`` in
``tensors_to_face_landmarks_with_attention``) becomes two gathers: refinements run in order
mesh, lips, left eye, right eye, left iris, right iris, each writing its points' x, y to its
listed indices (later ones overwrite); z comes from the mesh, except that each iris gets the
mean mesh z over the first 16 indices of its eye list.
"""

from __future__ import annotations

import numpy as np
import onnx

from converter.context import ConversionContext
from converter.errors import ConversionError
from converter.outputs import NamedOutput, emit_named, emit_outputs, value_infos
from service.contract import (
    IRIS_DEPTH_SOURCES,
    LEFT_EYE,
    LEFT_IRIS,
    LIPS,
    MODEL_OUTPUTS,
    NUM_LANDMARKS,
    NUM_MESH,
    REFINEMENTS,
    REGION_ORDER,
    RIGHT_EYE,
    RIGHT_IRIS,
)

# Contract outputs taken straight from TFLite tensors (contract name -> TFLite tensor name).
TFLITE_TENSORS: dict[str, str] = {
    "mesh": "output_mesh_identity",
    "lips": "output_lips",
    "left_eye": "output_left_eye",
    "right_eye": "output_right_eye",
    "left_iris": "output_left_iris",
    "right_iris": "output_right_iris",
}
TFLITE_OUTPUTS: dict[str, NamedOutput] = {
    name: NamedOutput(tensor, MODEL_OUTPUTS[name]) for name, tensor in TFLITE_TENSORS.items()
}
FACE_SCORE = NamedOutput("conv_faceflag", MODEL_OUTPUTS["face_score"], sigmoid=True)


def assemble_outputs(ctx: ConversionContext) -> list[onnx.ValueInfoProto]:
    """Emit the attention model's contract outputs; returns their value infos (batch ``N``)."""
    emit_outputs(ctx, {**TFLITE_OUTPUTS, "face_score": FACE_SCORE})
    _emit_region_transforms(ctx)
    _emit_landmarks(ctx)
    return value_infos(MODEL_OUTPUTS)


def _emit_region_transforms(ctx: ConversionContext) -> None:
    expected = {
        "lips": LIPS,
        "left_eye": LEFT_EYE,
        "right_eye": RIGHT_EYE,
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
    sources = [mesh_xy, *(region for region, _ in REFINEMENTS)]
    stacked = ctx.node("Concat", sources, "all_xy", axis=1)
    xy = ctx.node(
        "Gather",
        [stacked, ctx.int64s(xy_source_rows().tolist(), "xy_rows")],
        "refined_xy",
        axis=1,
    )
    depths = [mesh_z]
    for eye, iris in (
        (LEFT_EYE, LEFT_IRIS),
        (RIGHT_EYE, RIGHT_IRIS),
    ):
        around = ctx.node(
            "Gather",
            [mesh_z, ctx.int64s(list(eye[:IRIS_DEPTH_SOURCES]), "iris_z_src")],
            "iris_z_src",
            axis=1,
        )
        mean = ctx.node("ReduceMean", [around], "iris_z_mean", axes=[1], keepdims=1)  # [N,1,1]
        depths.append(
            ctx.node("Gather", [mean, ctx.int64s([0] * len(iris), "iris_z")], "iris_z", axis=1)
        )
    z = ctx.node("Concat", depths, "refined_z", axis=1)
    emit_named(ctx, "Concat", [xy, z], "landmarks", axis=2)


def xy_source_rows() -> np.ndarray:
    """For each of the 478 outputs, its row in Concat[mesh, lips, left_eye, right_eye,
    left_iris, right_iris] (points stacked in that order), after applying every refinement.
    int64 [478]."""
    rows = np.full(NUM_LANDMARKS, -1, dtype=np.int64)
    rows[:NUM_MESH] = np.arange(NUM_MESH)
    offset = NUM_MESH
    for _, indices in REFINEMENTS:
        for position, target in enumerate(indices):
            rows[target] = offset + position
        offset += len(indices)
    if (rows < 0).any():
        raise ValueError("refinement leaves output landmarks unassigned")
    return rows
