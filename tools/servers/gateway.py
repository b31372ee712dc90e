"""A real gateway process: ``python -m service`` on a local port, /readyz awaited.

Plain module (not a fixture file) so benchmarks and the load-test runner start servers exactly
as the tests do: ``launch`` starts one on a given port with its log in a given file,
``LiveServer.wait_ready`` waits for /readyz, ``start_server`` does both on a free port (with
quiet logs and a retry when the port was taken meanwhile). ``tests/conftest.py`` wraps
``start_server`` in the session-scoped ``live_server`` fixture.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from service.core.config import Settings
from tools.servers.ports import LOOPBACK, free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVER_START_TIMEOUT_S = 120.0  # upper bound on waiting, not an assertion on speed
STOP_TIMEOUT_S = 30.0  # a SIGTERM'd gateway finishes in-flight requests first


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

    def wait_ready(self, timeout_s: float = SERVER_START_TIMEOUT_S, path: str = "/readyz") -> bool:
        """True once ``path`` (the gateway's /readyz; another server's own check) answers
        200; False when the process exits or ``timeout_s`` passes first."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if httpx.get(f"{self.base_url}{path}", timeout=2.0).status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        return False

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL to the whole process group (its workers) after
        ``STOP_TIMEOUT_S``; the exit code."""
        for client in self._clients:
            client.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode


def launch(settings: Mapping[str, str], log_path: Path, port: int) -> LiveServer:
    """Start ``python -m service`` on 127.0.0.1:``port`` with ``settings`` (over this
    process's environment), stdout and stderr to ``log_path``; not awaited. Its own process
    group, so its workers stop with it."""
    env = {**os.environ, "FACEMESH_HOST": LOOPBACK, "FACEMESH_PORT": str(port), **settings}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "service"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return LiveServer(f"http://{LOOPBACK}:{port}", dict(settings), process, log_path)


def start_server(settings: Mapping[str, str], log_dir: Path) -> LiveServer:
    """Start ``python -m service`` with ``settings`` on a free port and wait for /readyz."""
    last_error = ""
    quiet = {"FACEMESH_LOG_LEVEL": "warning", "FACEMESH_ACCESS_LOG": "false"}
    for _attempt in range(3):  # a free port can be taken between probe and bind
        log_path = Path(tempfile.mkstemp(prefix="live-server-", suffix=".log", dir=log_dir)[1])
        server = launch({**quiet, **settings}, log_path, free_port())
        server.env = dict(settings)
        if server.wait_ready():
            return server
        last_error = server.log()
        server.stop()
        if "address already in use" not in last_error.lower():
            break
    raise RuntimeError(f"server with {dict(settings)} did not become ready:\n{last_error}")


def settings_from_env(variables: Mapping[str, str]) -> Settings:
    """The ``Settings`` a gateway started with ``FACEMESH_*`` ``variables`` (a ConfigMap, a
    test's server settings) runs with."""
    fields = {name.removeprefix("FACEMESH_").lower(): value for name, value in variables.items()}
    return Settings(**fields)
