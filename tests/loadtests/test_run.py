"""A tiny end-to-end load run: the runner starts the real gateway on loopback, locust posts
the crop and batch mixes, every body is checked, the reports are written, all stops.

Asserts correctness under concurrency only (zero failed checks, files present), never
timings. The CI-size run and the committed example report are documented in
loadtests/README.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "model_repository" / "facemesh" / "1" / "model.onnx"


@pytest.mark.slow
@pytest.mark.skipif(not MODEL.exists(), reason="model not built (make model)")
def test_runner_end_to_end_with_zero_failed_checks(tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = subprocess.run(
        [
            sys.executable, "-m", "loadtests.run",
            "--profiles", "crop,batch",
            "--users", "3",
            "--stages", "1,3",
            "--run-time", "6",
            "--max-requests", "300",
            "--out", str(out),
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["passed"]
    runs = {run["profile"]: run for run in summary["runs"]}
    assert set(runs) == {"crop", "batch"}
    for profile, run in runs.items():
        assert run["requests"] > 0 and run["failures"] == 0, run
        for suffix in ("_stats.csv", "_report.html", "_requests.csv", "_stages.csv"):
            assert (out / "embedded" / f"{profile}{suffix}").stat().st_size > 0
        png = out / "embedded" / f"{profile}_latency_vs_throughput.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert summary["gateway"]["embedded"]["rss_end_mib"] > 0
    assert (out / "summary.md").read_text().startswith("# Load test report")
