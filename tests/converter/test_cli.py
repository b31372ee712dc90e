"""The command line: build writes a checked model atomically and prints a summary."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest

from converter.__main__ import main
from tests.converter.conftest import CACHE


def test_build_writes_the_model_and_prints_a_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "facemesh" / "1" / "model.onnx"
    assert main(["build", "--output", str(output), "--cache", str(CACHE)]) == 0
    assert next(o.name for o in onnx.load(output).graph.output) == "landmarks"
    assert not list(output.parent.glob("*.tmp"))
    printed = capsys.readouterr().out
    assert "MACs (batch 1)" in printed and "TFLite parameters: 1,189,328" in printed

    assert main(["info", str(output)]) == 0
    assert "Conv 146" in capsys.readouterr().out


def test_build_reports_a_conversion_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(b"\x00" * 64)
    assert main(["build", "--output", str(tmp_path / "x.onnx"), "--tflite", str(broken)]) == 1
    assert "conversion failed" in capsys.readouterr().err
    assert not (tmp_path / "x.onnx").exists()
