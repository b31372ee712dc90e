"""Writes this folder's JPEGs of the coding processes Pillow cannot write (gzip-compressed:
flat images, so each is a few hundred bytes on disk).

Needs ``imagecodecs`` (PyPI; libjpeg-turbo 3 with its lossless and 12/16-bit encoders) and
libjpeg-turbo's ``cjpeg`` (Debian ``libjpeg-turbo-progs``, for arithmetic coding); neither is
a dependency of the project or its tests: run it by hand, e.g. in a scratch virtualenv with
``pip install imagecodecs numpy``, as ``python tests/data/jpeg_processes/generate.py``.

Every image is 768x900 (a crop that size is decoded DCT-scaled at 1/2, the case that
overflowed with a lossless JPEG), a flat grey of value 100 (12/16-bit: scaled alike).
"""

from __future__ import annotations

import gzip
import subprocess
import tempfile
from pathlib import Path

import imagecodecs
import numpy as np

HERE = Path(__file__).resolve().parent
WIDTH, HEIGHT = 768, 900


def _write(name: str, data: bytes) -> None:
    # mtime=0: the same bytes on every run
    (HERE / f"{name}.jpg.gz").write_bytes(gzip.compress(data, 9, mtime=0))


def _cjpeg(*args: str) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        ppm = Path(tmp) / "flat.ppm"
        ppm.write_bytes(f"P6 {WIDTH} {HEIGHT} 255\n".encode() + bytes([100]) * WIDTH * HEIGHT * 3)
        return subprocess.run(["cjpeg", *args, str(ppm)], check=True, capture_output=True).stdout


def main() -> None:
    rgb8 = np.full((HEIGHT, WIDTH, 3), 100, np.uint8)
    _write("lossless8_sof3", imagecodecs.jpeg8_encode(rgb8, lossless=True))
    grey16 = np.full((HEIGHT, WIDTH), 100 * 257, np.uint16)
    _write("lossless16_sof3", imagecodecs.jpeg8_encode(grey16, lossless=True, bitspersample=16))
    rgb12 = np.full((HEIGHT, WIDTH, 3), 100 * 16, np.uint16)
    _write("precision12_sof1", imagecodecs.jpeg8_encode(rgb12, bitspersample=12))
    _write("arithmetic_sof9", _cjpeg("-arithmetic"))
    _write("arithmetic_progressive_sof10", _cjpeg("-arithmetic", "-progressive"))


if __name__ == "__main__":
    main()
