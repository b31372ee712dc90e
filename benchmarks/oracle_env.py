"""The reference-oracle virtualenv (mediapipe 0.10.21), created on demand under .cache/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ORACLE_VENV = REPO / ".cache" / "venv-oracle"
ORACLE_REQUIREMENTS = ["mediapipe==0.10.21", "numpy<2"]  # mediapipe brings its own OpenCV


def oracle_python() -> Path:
    """Python of the oracle virtualenv, creating it (once) if needed."""
    python = ORACLE_VENV / "bin" / "python"
    stamp = ORACLE_VENV / ".installed"
    if not stamp.exists():
        subprocess.run([sys.executable, "-m", "venv", str(ORACLE_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", *ORACLE_REQUIREMENTS], check=True
        )
        stamp.touch()
    return python
