"""The reference-oracle virtualenv (mediapipe 0.10.21 and the LiteRT interpreter), created on
demand under .cache/."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
# The MediaPipe worker scripts beside this module (run by the oracle virtualenv's Python).
WORKERS = Path(__file__).resolve().parent
ORACLE_VENV = REPO / ".cache" / "venv-oracle"
ORACLE_REQUIREMENTS = [
    "mediapipe==0.10.21",  # brings its own OpenCV
    "numpy<2",
    # The TFLite interpreter for op-level parity of converted models (tests/converter goldens).
    "ai-edge-litert==1.2.0",
    # tools/oracle/peer_server.py: MediaPipe behind FastAPI, on the gateway's own server stack.
    "fastapi==0.165.0",
    "uvicorn[standard]==0.54.0",
    "orjson==3.13.0",
    "python-multipart==0.0.34",
]


def oracle_python() -> Path:
    """Python of the oracle virtualenv, creating it (once) if needed and installing
    ``ORACLE_REQUIREMENTS`` again whenever they changed since (the stamp holds them)."""
    python = ORACLE_VENV / "bin" / "python"
    stamp = ORACLE_VENV / ".installed"
    wanted = "\n".join(ORACLE_REQUIREMENTS) + "\n"
    if not stamp.exists() or stamp.read_text() != wanted:
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(ORACLE_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", *ORACLE_REQUIREMENTS], check=True
        )
        stamp.write_text(wanted)
    return python


class OracleWorker:
    """A script run by the oracle virtualenv's Python, driven one line at a time.

    Protocol (every ``benchmarks/mediapipe_*worker*.py``): the worker prints ``ready`` once
    loaded; each command line is answered by one JSON line; ``quit`` ends it. Rounds can so be
    interleaved with the caller's own, and both see the same machine load.
    """

    def __init__(self, argv: list[str], timeout_s: float = 60.0) -> None:
        self.timeout_s = timeout_s
        self.process = subprocess.Popen(
            [str(oracle_python()), *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "GLOG_minloglevel": "2"},  # MediaPipe's start-up warnings
        )
        while (line := self._readline()) != "ready":
            if not line and self.process.poll() is not None:
                raise RuntimeError(f"oracle worker {argv[0]} failed to start")

    def _readline(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.readline().strip()

    def ask(self, command: str) -> Any:
        """Send one command line; the worker's JSON answer."""
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return json.loads(self._readline())

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("quit\n")
        self.process.stdin.close()
        self.process.wait(timeout=self.timeout_s)
