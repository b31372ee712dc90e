"""What each OpenVINO compiled batch size costs and pays: memory and CPU per face.

    .venv/bin/python -m benchmarks.compiled_sizes [--sizes 1,2,3,4,8] [--rounds 50]

For the landmark model and the short-range detector, each batch size is compiled in turn in
one process; the resident memory it adds (``VmRSS`` before and after the compile and a first
call) and the process CPU per image over ``--rounds`` calls at that size (real crops of the
test photos, repeated to fill the batch) are printed. A frame with 2 or 3 faces runs at one
of these sizes, or as calls of one when only 1, 4, 8 are compiled. Writes
``benchmarks/reports/compiled_sizes.json``; discussed in ``docs/performance.md``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from benchmarks.harness import REPORTS, QuietCheck, write_report
from benchmarks.peer import stills
from service.contract import ATTENTION_SPEC, DETECTOR_SPECS, SHORT_RANGE, ModelSpec
from service.inference.runtime import OpenVinoRuntime, RuntimeOptions
from service.processing.decode import decode
from service.processing.detection import letterbox
from service.processing.preprocess import preprocess
from tools.oracle.oracle_env import REPO

MODELS = REPO / "model_repository"
REPORT = REPORTS / "compiled_sizes.json"


def rss_mb() -> float:
    """This process's resident memory (MB)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(
    path: Path, spec: ModelSpec, images: np.ndarray, sizes: list[int], rounds: int
) -> dict[str, dict[str, float]]:
    """Memory added and CPU per image of each compiled size of one model."""
    figures: dict[str, dict[str, float]] = {}
    for size in sizes:
        runtime = OpenVinoRuntime(path, spec, RuntimeOptions(batch_sizes=(size,)))
        batch = np.resize(images, (size, *images.shape[1:]))
        before = rss_mb()
        runtime.run(batch)
        added = rss_mb() - before
        start = time.process_time()
        for _ in range(rounds):
            runtime.run(batch)
        ms = 1000 * (time.process_time() - start) / (rounds * size)
        figures[str(size)] = {"rss_added_mb": added, "ms_cpu_per_image": ms}
        print(f"  {spec.label:10s} batch {size}: +{added:6.1f} MB, {ms:6.3f} ms CPU per image")
        del runtime
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,2,3,4,8")
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args(argv)
    sizes = [int(each) for each in args.sizes.split(",")]
    frames = [decode(still.body, min_side=1, max_pixels=1 << 26).pixels for still in stills()]
    crops = np.stack([preprocess(pixels)[0] for pixels in frames])
    squares = np.stack([letterbox(pixels, SHORT_RANGE.input_size) for pixels in frames])
    with QuietCheck() as quiet:
        report = {
            "mesh": measure(
                MODELS / "facemesh/1/model.onnx", ATTENTION_SPEC, crops, sizes, args.rounds
            ),
            "detector": measure(
                MODELS / "face_detector/1/model.onnx",
                DETECTOR_SPECS[SHORT_RANGE.name],
                squares,
                sizes,
                args.rounds,
            ),
        }
    write_report(REPORT, report, quiet)


if __name__ == "__main__":
    main()
