"""Expressions made from a neutral photo by warping it along its own landmarks.

The demo's puppet is tested with faces whose eyes are shut or whose mouth is open, compared with
the same face neutral. No test photo shows one person both ways, so the variants are made here:
``close_eyes`` pulls each upper lid down onto its lower lid (the lid skin above stretches, the
eyeball is covered), ``open_mouth`` moves the lower lip and chin down and paints the gap between
the lips dark (the mouth's inside). Both work column by column over the photo, in the photo's
pixels, from MediaPipe's golden landmarks for that photo; nothing else in the picture changes.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

# Eye outlines as MediaPipe's mesh numbers them, each corner to corner (image left to right on
# an upright face). "first"/"second" are the eyes at the image's left and right.
EYE_LIDS = {
    "first": (
        (33, 246, 161, 160, 159, 158, 157, 173, 133),
        (33, 7, 163, 144, 145, 153, 154, 155, 133),
    ),
    "second": (
        (362, 398, 384, 385, 386, 387, 388, 466, 263),
        (362, 382, 381, 380, 374, 373, 390, 249, 263),
    ),
}
# The lips' inner outline, corner to corner: upper edge and lower edge.
INNER_LIPS = (
    (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308),
    (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308),
)
# The lower lip's outer edge, corner to corner.
LOWER_LIP_OUTER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
MOUTH_INSIDE = (48, 16, 20)  # RGB of the painted gap: a dark red-brown


def _curve(points: np.ndarray, indices: tuple[int, ...], xs: np.ndarray) -> np.ndarray:
    """The outline through ``indices`` as y at each x in ``xs`` (linear between points)."""
    outline = points[list(indices), :2]
    order = np.argsort(outline[:, 0])
    return np.interp(xs, outline[order, 0], outline[order, 1])


def _sample(image: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``image`` (H, W, 3) float at (ys, xs), clamped to the border."""
    height, width = image.shape[:2]
    xs = np.clip(xs, 0, width - 1.001)
    ys = np.clip(ys, 0, height - 1.001)
    x0, y0 = np.floor(xs).astype(int), np.floor(ys).astype(int)
    fx, fy = (xs - x0)[..., None], (ys - y0)[..., None]
    top = image[y0, x0] * (1 - fx) + image[y0, x0 + 1] * fx
    bottom = image[y0 + 1, x0] * (1 - fx) + image[y0 + 1, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def _remap_columns(
    image: np.ndarray, columns: np.ndarray, out_knots: np.ndarray, src_knots: np.ndarray
) -> None:
    """For each x in ``columns``, rows between the first and last knot read their pixels from
    the source rows the knots map to (piecewise linear); ``image`` is changed in place.
    ``out_knots``/``src_knots``: (len(columns), K) increasing rows."""
    source = image.copy()
    for x, out_k, src_k in zip(columns, out_knots, src_knots, strict=True):
        rows = np.arange(int(np.ceil(out_k[0])), int(np.floor(out_k[-1])) + 1)
        rows = rows[(rows >= 0) & (rows < image.shape[0])]
        from_rows = np.interp(rows, out_k, src_k)
        image[rows, x] = _sample(source, np.full(rows.shape, float(x)), from_rows)


def close_eyes(
    photo: Image.Image, landmarks: np.ndarray, eyes: tuple[str, ...] = ("first", "second")
) -> Image.Image:
    """``photo`` with ``eyes`` (keys of ``EYE_LIDS``) shut; ``landmarks``: (478, >=2) in the
    photo's pixels."""
    image = np.asarray(photo.convert("RGB")).astype(np.float64)
    for upper, lower in (EYE_LIDS[eye] for eye in eyes):
        corners = landmarks[[upper[0], upper[-1]], 0]
        width = float(abs(corners[1] - corners[0]))
        columns = np.arange(int(np.floor(corners.min())), int(np.ceil(corners.max())) + 1)
        top = _curve(landmarks, upper, columns)
        bottom = _curve(landmarks, lower, columns)
        shut = top + 0.9 * (bottom - top)  # where the closed lid's edge lies
        above = top - 0.6 * width  # the brow side: the stretch fades out there
        below = bottom + 0.25 * width
        # Above the closed lid's edge: the lid and the skin above it, stretched down; below it:
        # the lower lid and under it (the eyeball between the lids is gone).
        out_knots = np.stack([above, shut, shut + 1e-3, below], axis=1)
        src_knots = np.stack([above, top, bottom, below], axis=1)
        _remap_columns(image, columns, out_knots, src_knots)
    return Image.fromarray(np.clip(np.rint(image), 0, 255).astype(np.uint8))


def open_mouth(photo: Image.Image, landmarks: np.ndarray, opening: float = 0.5) -> Image.Image:
    """``photo`` with the jaw dropped by ``opening`` x the mouth's width (less towards the
    sides) and the lips parted by as much at their middle (an ellipse between the corners);
    ``landmarks``: (478, >=2) in the photo's pixels."""
    image = np.asarray(photo.convert("RGB")).astype(np.float64)
    upper, lower = INNER_LIPS
    corners = np.sort(landmarks[[upper[0], upper[-1]], 0])
    mouth_width = float(corners[1] - corners[0])
    # The jaw's drop spreads beyond the corners (the cheeks follow), fading out.
    reach = 0.5 * mouth_width
    columns = np.arange(int(np.floor(corners[0] - reach)), int(np.ceil(corners[1] + reach)) + 1)
    columns = columns[(columns >= 0) & (columns < image.shape[1])]
    offset = (columns - 0.5 * (corners[0] + corners[1])) / (0.5 * mouth_width)
    drop = (
        opening
        * mouth_width
        * np.clip(1 - (offset * mouth_width / (mouth_width + 2 * reach)) ** 2, 0, None)
    )
    gap = opening * mouth_width * np.sqrt(np.clip(1 - offset**2, 0, None))
    seam_top = _curve(landmarks, upper, columns)
    seam_bottom = np.maximum(_curve(landmarks, lower, columns), seam_top)
    lip_bottom = np.maximum(_curve(landmarks, LOWER_LIP_OUTER, columns), seam_bottom + 1)
    end = np.full(columns.shape, landmarks[152, 1] + 0.6 * mouth_width)  # below the chin: as is
    out_knots = np.stack([seam_top + gap, lip_bottom + drop, end], axis=1)
    src_knots = np.stack([seam_bottom, lip_bottom, end], axis=1)
    _remap_columns(image, columns, out_knots, src_knots)
    for x, top, height in zip(columns, seam_top, gap, strict=True):  # the mouth's inside
        rows = np.arange(int(np.ceil(top)), int(np.floor(top + height)) + 1)
        image[rows, x] = MOUTH_INSIDE
    return Image.fromarray(np.clip(np.rint(image), 0, 255).astype(np.uint8))
