"""The models this converter builds: source file, input range and named outputs of each.

Every image model's graph takes ``image``: uint8 ``[N, H, W, 3]`` RGB and maps it in-graph to
the float range MediaPipe's ImageToTensorCalculator feeds that model. The blendshape model takes
``points``: float32 ``[N, 146, 2]`` as MediaPipe feeds it (pixels of the whole image).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import onnx

from converter.context import ConversionContext
from converter.contract import assemble_outputs
from converter.outputs import NamedOutput, emit_outputs, value_infos
from service.contract import (
    BLENDSHAPE_INPUT_NAME,
    BLENDSHAPE_OUTPUTS,
    CASCADE_MESH_OUTPUTS,
    FULL_RANGE,
    IRIS_OUTPUTS,
    LANDMARKER_OUTPUTS,
    MODEL_INPUT_NAME,
    SHORT_RANGE,
)


@dataclass(frozen=True)
class ConversionSpec:
    """How the converter builds one model: its name, input range and contract outputs.

    ``input_name`` is the graph input: ``image`` (uint8 NHWC, scaled to ``input_range``) or,
    with ``image_input`` false, a float32 tensor of the TFLite input's shape passed as is.
    ``stop_after`` names the TFLite tensor after which the converter stops walking ops (a tail
    that only drops the batch axis, which a batch-dynamic graph must keep)."""

    name: str
    input_range: tuple[float, float]  # pixel 0 -> low, 255 -> high
    assemble: Callable[[ConversionContext], list[onnx.ValueInfoProto]]
    input_name: str = MODEL_INPUT_NAME
    image_input: bool = True
    stop_after: str | None = None


# The blendshape model's last batched tensor: sigmoid scores reshaped to [1, 52].
BLENDSHAPES_TENSOR = "model_1/GhumMarkerPoserMlpMixerGeneral/reshape_7/Reshape"


def named_outputs(
    outputs: dict[str, NamedOutput],
) -> Callable[[ConversionContext], list[onnx.ValueInfoProto]]:
    def assemble(ctx: ConversionContext) -> list[onnx.ValueInfoProto]:
        emit_outputs(ctx, outputs)
        return value_infos({name: spec.shape for name, spec in outputs.items()})

    return assemble


SPECS: dict[str, ConversionSpec] = {
    spec.name: spec
    for spec in (
        # The fused Attention Mesh: the service's model (contract in README.md).
        ConversionSpec("face_landmark_with_attention", (0.0, 1.0), assemble_outputs),
        # The pre-attention cascade's 468-point mesh model.
        ConversionSpec(
            "face_landmark",
            (0.0, 1.0),
            named_outputs(
                {
                    "mesh": NamedOutput("conv2d_21", CASCADE_MESH_OUTPUTS["mesh"]),
                    "face_score": NamedOutput(
                        "conv2d_31", CASCADE_MESH_OUTPUTS["face_score"], sigmoid=True
                    ),
                }
            ),
        ),
        # The cascade's per-eye model on a 64x64 eye crop.
        ConversionSpec(
            "iris_landmark",
            (0.0, 1.0),
            named_outputs(
                {
                    "eye_contour": NamedOutput(
                        "output_eyes_contours_and_brows", IRIS_OUTPUTS["eye_contour"]
                    ),
                    "iris": NamedOutput("output_iris", IRIS_OUTPUTS["iris"]),
                }
            ),
        ),
        # BlazeFace short-range detector on a 128x128 frame, raw anchor regressions/logits.
        ConversionSpec(
            "face_detection_short_range",
            (-1.0, 1.0),
            named_outputs(
                {
                    "regressors": NamedOutput("regressors", SHORT_RANGE.outputs["regressors"]),
                    "classificators": NamedOutput(
                        "classificators", SHORT_RANGE.outputs["classificators"]
                    ),
                }
            ),
        ),
        # BlazeFace full-range (sparse) detector on a 192x192 frame: one 48x48 anchor grid.
        ConversionSpec(
            "face_detection_full_range",
            (-1.0, 1.0),
            named_outputs(
                {
                    "regressors": NamedOutput("Identity", FULL_RANGE.outputs["regressors"]),
                    "classificators": NamedOutput(
                        "Identity_1", FULL_RANGE.outputs["classificators"]
                    ),
                }
            ),
        ),
        # FaceLandmarker's landmark model on a 256x256 crop: 478 points (px256), presence and
        # tongue-out probabilities (docs/landmarker.md).
        ConversionSpec(
            "face_landmarks_detector",
            (0.0, 1.0),
            named_outputs(
                {
                    "landmarks": NamedOutput("Identity", LANDMARKER_OUTPUTS["landmarks"]),
                    "face_score": NamedOutput(
                        "Identity_1", LANDMARKER_OUTPUTS["face_score"], sigmoid=True
                    ),
                    "tongue_out": NamedOutput("Identity_2", LANDMARKER_OUTPUTS["tongue_out"]),
                }
            ),
        ),
        # FaceLandmarker's blendshape model: 146 points (pixels of the image) -> 52 scores. The
        # TFLite graph ends by dropping the batch axis (a [1, 52] -> [52] slice): stop before.
        ConversionSpec(
            "face_blendshapes",
            (0.0, 1.0),
            named_outputs(
                {
                    "blendshapes": NamedOutput(
                        BLENDSHAPES_TENSOR, BLENDSHAPE_OUTPUTS["blendshapes"]
                    ),
                }
            ),
            input_name=BLENDSHAPE_INPUT_NAME,
            image_input=False,
            stop_after=BLENDSHAPES_TENSOR,
        ),
    )
}
