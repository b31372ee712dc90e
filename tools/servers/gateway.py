"""A real gateway process: ``python -m service`` on a free local port, /readyz awaited.

Plain module (not a fixture file) so benchmarks can start servers exactly as the tests do;
``tests/conftest.py`` wraps ``start_server`` in the session-scoped ``live_server`` fixture.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVER_START_TIMEOUT_S = 120.0  # upper bound on waiting, not an assertion on speed


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    """A running ``python -m service`` subprocess."""

    base_url: str
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log_path: Path
    _clients: list[httpx.Client] = field(default_factory=list)

    def client(self) -> httpx.Client:
        """The shared keep-alive httpx client for this server (closed at session end)."""
        if not self._clients or self._clients[0].is_closed:
            self._clients.insert(0, self.new_client())
        return self._clients[0]

    def new_client(self, **kwargs: object) -> httpx.Client:
        """A fresh httpx client (own connections) bound to this server; the caller closes it."""
        return httpx.Client(base_url=self.base_url, timeout=60.0, **kwargs)  # type: ignore[arg-type]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        for client in self._clients:
            client.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(settings: Mapping[str, str], log_dir: Path) -> LiveServer:
    """Start ``python -m service`` with ``settings`` on a free port and wait for /readyz."""
    last_error = ""
    for _attempt in range(3):  # a free port can be taken between probe and bind
        port = free_port()
        env = {
            **os.environ,
            "FACEMESH_HOST": "127.0.0.1",
            "FACEMESH_PORT": str(port),
            "FACEMESH_LOG_LEVEL": "warning",
            "FACEMESH_ACCESS_LOG": "false",
            **settings,
        }
        log_path = Path(tempfile.mkstemp(prefix="live-server-", suffix=".log", dir=log_dir)[1])
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "service"],
                cwd=REPO_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        server = LiveServer(f"http://127.0.0.1:{port}", dict(settings), process, log_path)
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(f"{server.base_url}/readyz", timeout=2.0).status_code == 200:
                    return server
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        last_error = server.log()
        server.stop()
        if "address already in use" not in last_error.lower():
            break
    raise RuntimeError(f"server with {dict(settings)} did not become ready:\n{last_error}")
