"""Decode CPU per image: Pillow (+ the array copy) vs OpenCV vs simplejpeg, side by side.

    .venv/bin/python -m benchmarks.decode [--rounds 7]

The images are made here from ``tests/data/frames/t1.jpg`` (resized to 1920x1080: JPEG q90,
PNG, WebP q90) and one 192x192 PNG crop of ``tests/data/crops``. Each contender decodes to
uint8 [H, W, 3] RGB, in this process, OpenCV on one thread; every round runs them all in
turn (``interleaved``) and the best round's CPU time per image is kept (process CPU, so a
loaded machine skews absolute times, not the ratios much). Also timed: simplejpeg's DCT-scaled
decodes (1/2, 1/4, 1/8), which ``service/processing/decode.py`` uses for tracked frames and
large crops. Prints a table; writes ``benchmarks/reports/decode.json``. The figures are quoted
in ``docs/ARCHITECTURE.md`` ("Decoding").
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import simplejpeg
from PIL import Image

from benchmarks.harness import REPORTS, QuietCheck, interleaved, write_report

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
MIN_TIMED_S = 0.15  # each contender decodes repeatedly for at least this much CPU per round


def _pillow(data: bytes) -> np.ndarray:
    """The previous path: Pillow decode, then the array copy."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return np.asarray(image.convert("RGB"))


def _opencv(data: bytes) -> np.ndarray:
    flags = cv2.IMREAD_COLOR_RGB | cv2.IMREAD_IGNORE_ORIENTATION
    return np.asarray(cv2.imdecode(np.frombuffer(data, np.uint8), flags))


def _simplejpeg(data: bytes, eighths: int = 8) -> np.ndarray:
    height, width, _, _ = simplejpeg.decode_jpeg_header(data)
    return np.asarray(
        simplejpeg.decode_jpeg(
            data,
            min_width=-(-width * eighths // 8),
            min_height=-(-height * eighths // 8),
            min_factor=8 / eighths,
        )
    )


def _images() -> dict[str, bytes]:
    with Image.open(DATA / "frames" / "t1.jpg") as image:
        frame = image.convert("RGB").resize((1920, 1080), Image.Resampling.BICUBIC)
    encoded = {}
    for name, fmt, params in (
        ("1080p.jpg", "JPEG", {"quality": 90}),
        ("1080p.png", "PNG", {}),
        ("1080p.webp", "WEBP", {"quality": 90}),
    ):
        buffer = io.BytesIO()
        frame.save(buffer, fmt, **params)
        encoded[name] = buffer.getvalue()
    encoded["crop192.png"] = next(iter(sorted((DATA / "crops").glob("*.png")))).read_bytes()
    return encoded


def _cpu_ms(decode: Callable[[], object]) -> float:
    start = time.process_time()
    count = 0
    while time.process_time() - start < MIN_TIMED_S:
        decode()
        count += 1
    return (time.process_time() - start) / count * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    images = _images()
    contenders: dict[str, Callable[[], float]] = {}
    for name, data in images.items():
        contenders[f"{name} pillow"] = lambda d=data: _cpu_ms(lambda: _pillow(d))
        contenders[f"{name} opencv"] = lambda d=data: _cpu_ms(lambda: _opencv(d))
        if name.endswith(".jpg"):
            for eighths in (8, 4, 2, 1):
                contenders[f"{name} simplejpeg {eighths}/8"] = lambda d=data, n=eighths: _cpu_ms(
                    lambda: _simplejpeg(d, n)
                )
    with QuietCheck() as quiet:
        rounds = interleaved(args.rounds, contenders, progress=False)
    best = {name: min(times) for name, times in rounds.items()}
    for name, ms in best.items():
        print(f"{name:32s} {ms:7.2f} ms CPU")
    write_report(
        REPORTS / "decode.json",
        {"rounds": args.rounds, "cpu_ms_per_image": best},
        quiet,
    )


if __name__ == "__main__":
    main()
