"""``benchmarks/landmarker.py`` really runs: a tiny real run (1 s rounds) against the real
peer and FaceLandmarker in process, every answer right. No timing is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.harness import REPO
from tests.benchmarks.test_peer import oracle_or_skip


@pytest.mark.slow
def test_a_tiny_real_run_reports_all_three(model_path: Path, tmp_path: Path) -> None:
    oracle_or_skip()
    report_path = tmp_path / "landmarker.json"
    # 150 frames: the clip's path is smooth enough to track (a shorter one jumps).
    argv = ["--seconds", "1", "--rounds", "1", "--report", str(report_path)]
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks.landmarker", *argv],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "ours/peer" in run.stdout
    report = json.loads(report_path.read_text())
    assert report["gateway_settings"]["FACEMESH_PIPELINE"] == "landmarker"
    assert set(report["loads"]) == {"stills", "video"}
    for name, load in report["loads"].items():
        for who in ("ours", "peer"):
            row = load[who]
            assert row["answers"] > 0, (name, who, row)
            assert row["errors"] == 0, (name, who, row["first_error"])
        assert load["in_process"]["frames"] > 0 and load["in_process"]["cpu_ms_per_frame"] > 0
