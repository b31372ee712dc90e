"""Process control for the load-test runner: the gateway under test (started by
``tools/servers/gateway.py`` as the tests start theirs, log to a file, RSS sampled), locust as
a bounded subprocess, and a local Triton (``tools/servers/triton.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from loadtests.sampling import RssSampler
from tools.servers.gateway import launch

ROOT = Path(__file__).resolve().parents[1]
LOCUSTFILES = Path(__file__).resolve().parent / "locustfiles"


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


class Gateway:
    """The gateway under test (``tools.servers.gateway.launch``: ``python -m service`` on
    loopback), its log in ``out/gateway.log``, its RSS sampled every 2 s."""

    def __init__(self, backend: str, port: int, env: dict[str, str], out: Path) -> None:
        self.out = out
        self.ready_at: float | None = None
        settings = {"FACEMESH_BACKEND": backend, "PYTHONUNBUFFERED": "1", **env}
        self.server = launch(settings, out / "gateway.log", port)
        self.url = self.server.base_url
        self.process = self.server.process
        self.rss = RssSampler(self.process.pid)

    def wait_ready(self, timeout: float) -> None:
        if not self.server.wait_ready(timeout):
            code = self.process.poll()
            if code is not None:
                raise RuntimeError(f"gateway exited with {code}; see log")
            raise RuntimeError(f"gateway not ready within {timeout:.0f} s")
        self.ready_at = time.time()

    def rss_summary(self) -> dict[str, float | None]:
        """RSS (MiB, gateway and its workers) when it became ready, at the end, and the max."""
        return self.rss.summary(since=self.ready_at)

    def cpu_seconds(self) -> float | None:
        """CPU time (user + system) used so far by the gateway and its workers."""
        import psutil

        try:
            process = psutil.Process(self.process.pid)
            total = 0.0
            for proc in [process, *process.children(recursive=True)]:
                times = proc.cpu_times()
                total += times.user + times.system
            return round(total, 1)
        except psutil.Error:
            return None

    def stop(self) -> int | None:
        self.rss.stop()
        code = self.server.stop()
        self.rss.write_csv(self.out / "gateway_rss.csv")
        return code


def serves_route(base_url: str, route: str) -> bool:
    status, body = http_get(f"{base_url}/openapi.json")
    return status == 200 and route in json.loads(body).get("paths", {})


def run_locust(
    profile: str,
    locustfile: str,
    host: str,
    stages: list[int],
    args: argparse.Namespace,
    out: Path,
) -> int:
    """locust headless on ``locustfiles/<locustfile>`` with the step shape; its exit code."""
    prefix = out / profile
    environ = dict(os.environ)
    environ.update(
        {
            "PYTHONPATH": str(ROOT),
            "LOADTEST_STAGES": ",".join(map(str, stages)),
            "LOADTEST_STAGE_SECONDS": f"{args.run_time / len(stages):.6f}",
            "LOCUST_MAX_REQUESTS": str(args.max_requests),
            "LOCUST_REQUESTS_CSV": f"{prefix}_requests.csv",
        }
    )
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        f"{LOCUSTFILES / locustfile},{LOCUSTFILES / 'shape.py'}",
        "--headless",
        "--host",
        host,
        "--stop-timeout",
        "10",
        "--csv",
        str(prefix),
        "--csv-full-history",
        "--html",
        f"{prefix}_report.html",
        "--only-summary",
        "--loglevel",
        "WARNING",
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        return _run_locust_process(command, environ, prefix, args.run_time)
    finally:
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        LOCUST_CPU_S[str(prefix)] = round(cpu, 1)


LOCUST_CPU_S: dict[str, float] = {}


def _run_locust_process(
    command: list[str], environ: dict[str, str], prefix: Path, run_time: float
) -> int:
    with open(f"{prefix}_locust.log", "wb") as log:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=environ,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        # The step shape ends the run after --run-time; this is the hard stop if it does not.
        try:
            return process.wait(timeout=run_time + 120)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
            return 124


@contextlib.contextmanager
def triton_server(args: argparse.Namespace, backend: str, out: Path) -> Iterator[str]:
    """The Triton gRPC address for the triton backend: ``--triton-url``, or a local
    ``tritonserver`` from nvidia-pytriton (``make triton-venv``, ``tools/servers/triton.py``)
    on free loopback ports, stopped afterwards."""
    if backend != "triton" or args.host or args.triton_url:
        yield args.triton_url
        return
    from tools.servers.triton import LocalTriton

    # Its working files (model copy, backend binaries) stay out of the report; its log is kept.
    with tempfile.TemporaryDirectory(prefix="loadtest-triton-") as workdir:
        server = LocalTriton(Path(workdir))
        print(f"[{backend}] starting a local tritonserver (nvidia-pytriton)", flush=True)
        try:
            server.start()
            yield server.grpc_url
        finally:
            server.stop()
            if server.log_path.exists():
                shutil.copy(server.log_path, out / "tritonserver.log")
