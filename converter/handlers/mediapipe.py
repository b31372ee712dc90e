"""MediaPipe's attention custom ops expressed with standard ONNX ops (batch-dynamic).

Semantics follow MediaPipe's v2 kernels (docs/mediapipe_semantics.md, section 2):

* Landmarks2TransformMatrix v2: rotation from two landmarks, rotated tight box of a landmark
  subset scaled by (scale_x, scale_y), giving T mapping the WxH output grid (continuous
  coordinates) to landmark units: p = c + Rot(theta) diag(sx, sy) (u - W/2, v - H/2).
* TransformTensorBilinear v2: samples the NHWC map at (X, Y) = T (u + 0.5, v + 0.5) - 0.5,
  bilinear, and writes 0 for every channel when (X, Y) falls outside [0, W-1] x [0, H-1].
* TransformLandmarks v2: x' = M00 x + M01 y + M03, y' = M10 x + M11 y + M13 (z passes through).
"""

from __future__ import annotations

import numpy as np

from converter.context import ConversionContext
from converter.errors import UnsupportedOpError
from converter.registry import register
from converter.tflite_model import Operator


def _options(op: Operator, required: tuple[str, ...]) -> dict[str, object]:
    options = op.custom_options or {}
    missing = [key for key in required if key not in options]
    if missing:
        raise UnsupportedOpError(op.key, f"custom options missing {missing}")
    return options


def _slice(
    ctx: ConversionContext,
    data: str,
    starts: list[int],
    ends: list[int],
    axes: list[int],
    hint: str,
) -> str:
    return ctx.node(
        "Slice",
        [data, ctx.int64s(starts, hint), ctx.int64s(ends, hint), ctx.int64s(axes, hint)],
        hint,
    )


def _matrix_parts(ctx: ConversionContext, matrix: str, hint: str) -> tuple[str, str]:
    """From [N,4,4] matrices: A^T [N,2,2] (linear part, transposed) and t [N,1,2]."""
    linear = _slice(ctx, matrix, [0, 0], [2, 2], [1, 2], f"{hint}_A")
    linear_t = ctx.node("Transpose", [linear], f"{hint}_At", perm=[0, 2, 1])
    shift = _slice(ctx, matrix, [0, 3], [2, 4], [1, 2], f"{hint}_t")
    shift_t = ctx.node("Transpose", [shift], f"{hint}_tt", perm=[0, 2, 1])
    return linear_t, shift_t


@register("CUSTOM:Landmarks2TransformMatrix:v2")
def landmarks_to_transform_matrix(ctx: ConversionContext, op: Operator) -> None:
    keys = (
        "subset_idxs",
        "left_rotation_idx",
        "right_rotation_idx",
        "target_rotation_radians",
        "output_height",
        "output_width",
        "scale_x",
        "scale_y",
    )
    opt = _options(op, keys)
    subset = [int(i) for i in opt["subset_idxs"]]  # type: ignore[attr-defined]
    left, right = int(opt["left_rotation_idx"]), int(opt["right_rotation_idx"])  # type: ignore[call-overload]
    target = float(opt["target_rotation_radians"])  # type: ignore[arg-type]
    out_w, out_h = int(opt["output_width"]), int(opt["output_height"])  # type: ignore[call-overload]
    scale = (float(opt["scale_x"]), float(opt["scale_y"]))  # type: ignore[arg-type]
    if min(left, right, *subset) < 0 or min(out_w, out_h) <= 0 or min(scale) <= 0:
        raise UnsupportedOpError(op.key, f"invalid options {opt}")
    name = ctx.tensor(op.outputs[0]).name

    landmarks = ctx.as_float32(op.inputs[0])  # [N, L, 3]
    xy = _slice(ctx, landmarks, [0], [2], [2], f"{name}_xy")  # [N, L, 2]
    pair = ctx.node("Gather", [xy, ctx.int64s([left, right], name)], f"{name}_pair", axis=1)
    first = _slice(ctx, pair, [0], [1], [1], f"{name}_l")
    second = _slice(ctx, pair, [1], [2], [1], f"{name}_r")
    delta = ctx.node("Sub", [second, first], f"{name}_delta")  # [N, 1, 2]
    dx = _slice(ctx, delta, [0], [1], [2], f"{name}_dx")
    dy = _slice(ctx, delta, [1], [2], [2], f"{name}_dy")

    # theta = atan2(dy, dx) via its cosine and sine (ONNX has no Atan2); atan2(0, 0) = 0.
    norm = ctx.node(
        "Sqrt",
        [
            ctx.node(
                "Add",
                [
                    ctx.node("Mul", [dx, dx], f"{name}_dx2"),
                    ctx.node("Mul", [dy, dy], f"{name}_dy2"),
                ],
                f"{name}_n2",
            )
        ],
        f"{name}_norm",
    )
    zero, one = ctx.const(0.0, name, np.float32), ctx.const(1.0, name, np.float32)
    degenerate = ctx.node("Equal", [norm, zero], f"{name}_deg")
    safe = ctx.node("Where", [degenerate, one, norm], f"{name}_safe")
    cos_t = ctx.node(
        "Where", [degenerate, one, ctx.node("Div", [dx, safe], f"{name}_c")], f"{name}_cos_theta"
    )
    sin_t = ctx.node(
        "Where", [degenerate, zero, ctx.node("Div", [dy, safe], f"{name}_s")], f"{name}_sin_theta"
    )
    # r = target - theta
    if target == 0.0:
        cos_r, sin_r = cos_t, ctx.node("Neg", [sin_t], f"{name}_sin_r")
    else:
        ct = ctx.const(np.cos(target), name, np.float32)
        st = ctx.const(np.sin(target), name, np.float32)
        cos_r = ctx.node(
            "Add",
            [ctx.node("Mul", [ct, cos_t], name), ctx.node("Mul", [st, sin_t], name)],
            f"{name}_cos_r",
        )
        sin_r = ctx.node(
            "Sub",
            [ctx.node("Mul", [st, cos_t], name), ctx.node("Mul", [ct, sin_t], name)],
            f"{name}_sin_r",
        )
    neg_sin_r = ctx.node("Neg", [sin_r], f"{name}_neg_sin_r")
    # rot_neg_r = Rot(-r) = [[cos r, sin r], [-sin r, cos r]]; it equals Rot(r)^T.
    rot_neg_r = ctx.node(
        "Concat",
        [
            ctx.node("Concat", [cos_r, sin_r], name, axis=2),
            ctx.node("Concat", [neg_sin_r, cos_r], name, axis=2),
        ],
        f"{name}_rot_neg_r",
        axis=1,
    )  # [N, 2, 2]
    rot_r = ctx.node("Transpose", [rot_neg_r], f"{name}_rot_r", perm=[0, 2, 1])

    unique_subset = list(dict.fromkeys(subset))  # pairs are flattened; duplicates change nothing
    points = ctx.node("Gather", [xy, ctx.int64s(unique_subset, name)], f"{name}_subset", axis=1)
    rotated = ctx.node("MatMul", [points, rot_neg_r], f"{name}_rotated")  # row p -> Rot(r) p
    low = ctx.node("ReduceMin", [rotated], f"{name}_min", axes=[1], keepdims=1)  # [N, 1, 2]
    high = ctx.node("ReduceMax", [rotated], f"{name}_max", axes=[1], keepdims=1)
    size = ctx.node("Sub", [high, low], f"{name}_size")
    middle = ctx.node(
        "Mul", [ctx.node("Add", [high, low], name), ctx.const(0.5, name, np.float32)], f"{name}_mid"
    )
    centre = ctx.node("MatMul", [middle, rot_r], f"{name}_centre")  # row m -> Rot(-r) m, [N,1,2]
    step = ctx.const(np.array([scale[0] / out_w, scale[1] / out_h], np.float32), name)
    scaled = ctx.node("Mul", [size, step], f"{name}_sxy")  # (sx, sy), [N, 1, 2]
    linear = ctx.node("Mul", [rot_neg_r, scaled], f"{name}_linear")  # Rot(-r) diag(sx, sy)
    half = ctx.const(np.array([[out_w / 2.0], [out_h / 2.0]], np.float32), name)
    shift = ctx.node(
        "Sub",
        [
            ctx.node("Transpose", [centre], name, perm=[0, 2, 1]),
            ctx.node("MatMul", [linear, half], name),
        ],
        f"{name}_shift",
    )  # [N,2,1]
    batch = _slice(ctx, ctx.node("Shape", [shift], name), [0], [1], [0], f"{name}_batch")
    zeros = ctx.node(
        "Expand",
        [ctx.const(np.zeros((1, 2, 1), np.float32), name), ctx.node("Shape", [shift], name)],
        f"{name}_zeros",
    )
    top = ctx.node("Concat", [linear, zeros, shift], f"{name}_top", axis=2)  # [N, 2, 4]
    bottom_shape = ctx.node("Concat", [batch, ctx.int64s([2, 4], name)], name, axis=0)
    bottom_rows = np.array([[[0, 0, 1, 0], [0, 0, 0, 1]]], np.float32)
    bottom = ctx.node("Expand", [ctx.const(bottom_rows, name), bottom_shape], f"{name}_bottom")
    matrix = ctx.node("Concat", [top, bottom], name, axis=1)  # [N, 4, 4]
    ctx.set_value(op.outputs[0], matrix, "TFLITE", np.dtype(np.float32))
    ctx.record(
        "landmarks_to_transform_matrix", op, output=matrix, subset=subset, rotation=(left, right)
    )


def sampling_grid(out_h: int, out_w: int) -> np.ndarray:
    """Output pixel centres (u + 0.5, v + 0.5), row-major over (v, u): [1, H*W, 2]."""
    v, u = np.meshgrid(np.arange(out_h), np.arange(out_w), indexing="ij")
    return np.stack([u + 0.5, v + 0.5], axis=-1).reshape(1, out_h * out_w, 2).astype(np.float32)


@register("CUSTOM:TransformTensorBilinear:v2")
def transform_tensor_bilinear(ctx: ConversionContext, op: Operator) -> None:
    opt = _options(op, ("output_height", "output_width"))
    out_h, out_w = int(opt["output_height"]), int(opt["output_width"])  # type: ignore[call-overload]
    _, in_h, in_w, channels = ctx.tensor(op.inputs[0]).shape
    name = ctx.tensor(op.outputs[0]).name

    # GridSample reads NCHW; the gather path reads rows of the NHWC map (one shared transpose).
    features = (
        ctx.as_nchw(op.inputs[0]) if ctx.sampler == "gridsample" else ctx.as_tflite(op.inputs[0])
    )
    if ctx.value(op.inputs[0]).dtype != np.float32:
        features = ctx.cast(features, np.dtype(np.float32), name)
    linear_t, shift_t = _matrix_parts(ctx, ctx.as_float32(op.inputs[1]), name)
    grid = ctx.const(sampling_grid(out_h, out_w), f"{name}_grid")
    # Index-space sampling positions (X, Y) = T (u + 0.5, v + 0.5) - 0.5: [N, H*W, 2]
    positions = ctx.node(
        "Sub",
        [
            ctx.node("Add", [ctx.node("MatMul", [grid, linear_t], name), shift_t], name),
            ctx.const(0.5, name, np.float32),
        ],
        f"{name}_xy",
    )
    # MediaPipe writes 0 to every channel when the position leaves [0, W-1] x [0, H-1].
    limits = ctx.const(np.array([in_w - 1, in_h - 1], np.float32), name)
    inside = ctx.node(
        "And",
        [
            ctx.node("GreaterOrEqual", [positions, ctx.const(0.0, name, np.float32)], name),
            ctx.node("LessOrEqual", [positions, limits], name),
        ],
        f"{name}_in",
    )
    mask = ctx.node(
        "ReduceMin",
        [ctx.cast(inside, np.dtype(np.float32), name)],
        f"{name}_mask",
        axes=[2],
        keepdims=0,
    )
    mask = ctx.node("Reshape", [mask, ctx.int64s([0, 1, out_h, out_w], name)], f"{name}_mask4")
    if ctx.sampler == "gridsample":
        sampled = _sample_with_gridsample(
            ctx, features, positions, (in_h, in_w), (out_h, out_w), name
        )
    else:
        sampled = _sample_with_gather(
            ctx, features, positions, (in_h, in_w, channels), (out_h, out_w), name
        )
    result = ctx.node("Mul", [sampled, mask], name)
    if ctx.compute_dtype != np.float32:
        result = ctx.cast(result, ctx.compute_dtype, name)
    ctx.set_value(op.outputs[0], result, "NCHW", ctx.compute_dtype)


@register("CUSTOM:TransformLandmarks:v2")
def transform_landmarks(ctx: ConversionContext, op: Operator) -> None:
    name = ctx.tensor(op.outputs[0]).name
    dims = ctx.tensor(op.inputs[0]).shape[-1]
    if dims not in (2, 3):
        raise UnsupportedOpError(op.key, f"landmarks must have 2 or 3 dims, got {dims}")
    points = ctx.as_float32(op.inputs[0])  # [N, K, D]
    linear_t, shift_t = _matrix_parts(ctx, ctx.as_float32(op.inputs[1]), name)
    xy = points if dims == 2 else _slice(ctx, points, [0], [2], [2], f"{name}_xy")
    moved = ctx.node("Add", [ctx.node("MatMul", [xy, linear_t], name), shift_t], f"{name}_xy2")
    if dims == 3:
        depth = _slice(ctx, points, [2], [3], [2], f"{name}_z")
        moved = ctx.node("Concat", [moved, depth], name, axis=2)
    ctx.set_value(op.outputs[0], moved, "TFLITE", np.dtype(np.float32))
    ctx.record("transform_landmarks", op, output=moved)


def _sample_with_gridsample(
    ctx: ConversionContext,
    features: str,
    positions: str,
    in_hw: tuple[int, int],
    out_hw: tuple[int, int],
    name: str,
) -> str:
    """Bilinear samples [N, C, out_h, out_w] via GridSample (align_corners=1 maps the
    normalised g = 2 X / (W - 1) - 1 back to index X exactly)."""
    in_h, in_w = in_hw
    scale = ctx.const(np.array([2.0 / (in_w - 1), 2.0 / (in_h - 1)], np.float32), name)
    normalised = ctx.node(
        "Sub",
        [ctx.node("Mul", [positions, scale], name), ctx.const(1.0, name, np.float32)],
        f"{name}_g",
    )
    grid = ctx.node("Reshape", [normalised, ctx.int64s([0, *out_hw, 2], name)], name)
    return ctx.node(
        "GridSample",
        [features, grid],
        f"{name}_sample",
        mode="bilinear",
        padding_mode="zeros",
        align_corners=1,
    )


def _sample_with_gather(
    ctx: ConversionContext,
    features_nhwc: str,
    positions: str,
    in_hwc: tuple[int, int, int],
    out_hw: tuple[int, int],
    name: str,
) -> str:
    """Bilinear samples [N, C, out_h, out_w]: the four neighbours gathered from the flattened
    map and weighted as MediaPipe's kernel does. Neighbour indices are clamped into the map;
    a clamped neighbour only ever carries weight 0 or belongs to a point the caller masks."""
    in_h, in_w, channels = in_hwc
    corner = ctx.node("Floor", [positions], f"{name}_floor")  # (x0, y0), [N, P, 2]
    frac = ctx.node("Sub", [positions, corner], f"{name}_frac")  # (fx, fy)
    rest = ctx.node("Sub", [ctx.const(1.0, name, np.float32), frac], f"{name}_rest")
    fx, fy = (_slice(ctx, frac, [i], [i + 1], [2], f"{name}_f{i}") for i in (0, 1))
    gx, gy = (_slice(ctx, rest, [i], [i + 1], [2], f"{name}_g{i}") for i in (0, 1))
    # neighbour order: (x0, y0), (x1, y0), (x0, y1), (x1, y1)
    weights = ctx.node(
        "Concat",
        [ctx.node("Mul", pair, f"{name}_w") for pair in ([gx, gy], [fx, gy], [gx, fy], [fx, fy])],
        f"{name}_weights",
        axis=2,
    )  # [N, P, 4]
    corner_int = ctx.cast(corner, np.dtype(np.int64), name)
    low, high = ctx.int64s([0, 0], name), ctx.int64s([in_w - 1, in_h - 1], name)

    def clamp(value: str) -> str:
        return ctx.node("Min", [ctx.node("Max", [value, low], name), high], f"{name}_clamp")

    near = clamp(corner_int)
    far = clamp(ctx.node("Add", [corner_int, ctx.int64s([1, 1], name)], name))

    def flat(columns: str, rows: str) -> str:  # x + y * W
        x = _slice(ctx, columns, [0], [1], [2], f"{name}_x")
        y = _slice(ctx, rows, [1], [2], [2], f"{name}_y")
        return ctx.node("Add", [x, ctx.node("Mul", [y, ctx.int64s([in_w], name)], name)], name)

    neighbours = ctx.node(
        "Concat",
        [flat(near, near), flat(far, near), flat(near, far), flat(far, far)],
        f"{name}_flat",
        axis=2,
    )  # [N, P, 4]
    # Row of the [N * H * W, C] table: n * H * W + flat
    batch = ctx.node(
        "Squeeze",
        [_slice(ctx, ctx.node("Shape", [features_nhwc], name), [0], [1], [0], f"{name}_n")],
        f"{name}_batch",
    )
    zero, one = (ctx.const(np.array(v, dtype=np.int64), name) for v in (0, 1))
    offsets = ctx.node(
        "Mul",
        [ctx.node("Range", [zero, batch, one], name), ctx.int64s([in_h * in_w], name)],
        f"{name}_offsets",
    )
    offsets = ctx.node("Reshape", [offsets, ctx.int64s([-1, 1, 1], name)], name)
    rows = ctx.node("Add", [neighbours, offsets], f"{name}_rows")
    table = ctx.node(
        "Reshape", [features_nhwc, ctx.int64s([-1, channels], name)], f"{name}_table"
    )  # [N * H * W, C]
    gathered = ctx.node("Gather", [table, rows], f"{name}_gathered", axis=0)  # [N, P, 4, C]
    row_weights = ctx.node("Unsqueeze", [weights, ctx.int64s([2], name)], name)  # [N, P, 1, 4]
    blended = ctx.node("MatMul", [row_weights, gathered], f"{name}_blend")  # [N, P, 1, C]
    flat_nc = ctx.node(
        "Transpose",
        [
            ctx.node(
                "Reshape", [blended, ctx.int64s([0, out_hw[0] * out_hw[1], channels], name)], name
            )
        ],
        name,
        perm=[0, 2, 1],
    )
    return ctx.node(
        "Reshape", [flat_nc, ctx.int64s([0, channels, *out_hw], name)], f"{name}_sample"
    )
