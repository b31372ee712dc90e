"""The CPU compose stack (``docker-compose.yml`` + ``docker-compose.cpu.yml``) with
``podman-compose``: the merged file resolves (``!reset`` included) and its gateway service starts
from the built image (a third file sets ``image:`` to it; ``GATEWAY_PORT`` picks a free host
port). Triton's image
(``nvcr.io/...``) and Prometheus's cannot be pulled here, so the gateway runs without its
backend, as it does before Triton is ready: alive (``/healthz`` 200), not ready (``/readyz``
503) and answering model routes with a JSON 503 ``backend_unavailable`` (``depends_on`` is
``service_started`` for that reason). Triton on CPU itself is not run (README, Docker)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.system.image.conftest import IMAGE, REPO, free_port, podman

WAIT_S = 90.0


def compose(*args: str, port: int, check: bool = True) -> subprocess.CompletedProcess[str]:
    engine, *global_args = podman()
    override = Path(os.environ.get("TMPDIR", "/tmp")) / f"facemesh-compose-{port}.yml"
    override.write_text(yaml.safe_dump({"services": {"gateway": {"image": IMAGE}}}))
    files = ["-f", "docker-compose.yml", "-f", "docker-compose.cpu.yml", "-f", str(override)]
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "podman-compose"),  # requirements-dev.txt
            f"--podman-path={engine}",
            f"--podman-args={' '.join(global_args)}",
            *files,
            *args,
        ],
        cwd=REPO,
        env={**os.environ, "GATEWAY_PORT": str(port)},
        capture_output=True,
        text=True,
        check=check,
        timeout=WAIT_S,
    )


@pytest.fixture(scope="module")
def port(image: str) -> Iterator[int]:
    port = free_port()
    up = compose("up", "-d", "--no-deps", "--no-build", "gateway", port=port, check=False)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield port
    finally:
        compose("down", "-t", "5", port=port, check=False)


def test_the_merged_cpu_stack_resolves(port: int) -> None:
    merged = yaml.safe_load(compose("config", port=port).stdout)
    services = merged["services"]
    assert "deploy" not in services["triton"]  # !reset dropped the GPU reservation
    assert "--model-config-name=cpu" in services["triton"]["command"]
    assert services["gateway"]["image"] == IMAGE
    assert services["gateway"]["environment"]["FACEMESH_BACKEND"] == "triton"


def test_the_gateway_service_starts_and_waits_for_triton(port: int) -> None:
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + WAIT_S
    while True:
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, compose("logs", "gateway", port=port).stdout
        time.sleep(0.2)
    ready = httpx.get(f"{base_url}/readyz", timeout=10)
    assert ready.status_code == 503
    crop = httpx.post(
        f"{base_url}/v1/crop",
        files={"image": ("c.png", (REPO / "tests/data/crops/lenna_face0.png").read_bytes())},
        timeout=30,
    )
    assert crop.status_code == 503, crop.text
    assert crop.json()["error"]["code"] == "backend_unavailable"
    assert crop.headers["Retry-After"]
