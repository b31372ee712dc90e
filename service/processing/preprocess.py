"""uint8 [H, W, 3] RGB crop -> uint8 [192, 192, 3] model input, and the transform back.

Resizing (documented in README.md): the crop is scaled so its longer side is 192 px, keeping
the aspect ratio; a non-square crop is then centred and padded to 192x192 by replicating its
edge pixels (MediaPipe's CPU ImageToTensor border mode). Interpolation is Pillow's
``Resampling.BOX`` (exact area averaging) when shrinking and ``Resampling.BILINEAR`` when
enlarging. A 192x192 crop is passed through unchanged (no resampling).

Coordinates use the pixel-edge convention: x = 0 is the left edge of the first pixel and
x = width its right edge, the convention of MediaPipe's normalised landmarks (x_norm * width).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from service.contract import MODEL_INPUT_SIZE


@dataclass(frozen=True)
class CropTransform:
    """Maps model-input pixels (px192) to the posted image's pixels.

    ``x = (x192 - offset_x) * scale_x`` and ``y = (y192 - offset_y) * scale_y``;
    ``z`` (on the x scale) is multiplied by ``scale_x``.
    """

    width: int
    height: int
    scale_x: float
    scale_y: float
    offset_x: float
    offset_y: float

    def onto(self, width: int, height: int) -> CropTransform:
        """The same crop mapped onto a ``width`` x ``height`` image: the posted image, when the
        crop was decoded at reduced size (JPEG DCT scaling)."""
        if (width, height) == (self.width, self.height):
            return self
        return CropTransform(
            width=width,
            height=height,
            scale_x=self.scale_x * width / self.width,
            scale_y=self.scale_y * height / self.height,
            offset_x=self.offset_x,
            offset_y=self.offset_y,
        )

    def matrix(self) -> np.ndarray:
        """float64 [3, 3] homogeneous matrix from px192 to posted-image pixels."""
        return np.array(
            [
                [self.scale_x, 0.0, -self.offset_x * self.scale_x],
                [0.0, self.scale_y, -self.offset_y * self.scale_y],
                [0.0, 0.0, 1.0],
            ]
        )


def preprocess(image: np.ndarray, size: int = MODEL_INPUT_SIZE) -> tuple[np.ndarray, CropTransform]:
    """Resize/pad uint8 [H, W, 3] to uint8 [size, size, 3] (192: the attention model's input;
    256: the landmarker's); return it with its ``CropTransform`` (px``size`` -> posted)."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"want uint8 [H, W, 3], got {image.dtype} {image.shape}")
    height, width = int(image.shape[0]), int(image.shape[1])
    if width == size and height == size:
        return np.ascontiguousarray(image), CropTransform(width, height, 1.0, 1.0, 0.0, 0.0)

    longest = max(width, height)
    new_w = max(1, round(width * size / longest))
    new_h = max(1, round(height * size / longest))
    resample = Image.Resampling.BOX if longest > size else Image.Resampling.BILINEAR
    resized = np.asarray(Image.fromarray(image).resize((new_w, new_h), resample))

    pad_x, pad_y = (size - new_w) // 2, (size - new_h) // 2
    if (new_w, new_h) != (size, size):
        resized = np.pad(
            resized,
            ((pad_y, size - new_h - pad_y), (pad_x, size - new_w - pad_x), (0, 0)),
            mode="edge",
        )
    transform = CropTransform(
        width=width,
        height=height,
        scale_x=width / new_w,
        scale_y=height / new_h,
        offset_x=float(pad_x),
        offset_y=float(pad_y),
    )
    return np.ascontiguousarray(resized, dtype=np.uint8), transform
