"""The gateway image checked from outside with a real container engine (podman), as an operator
would run it. ``make image-test`` builds the image and runs these with ``GATEWAY_IMAGE`` set;
without it (the main suite, ``make test``) nothing here is collected.

Figures (cold start, size, shutdown) are printed in the terminal summary.
"""

from __future__ import annotations

import functools
import json
import os
import shlex
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tools.servers.gateway import free_port

REPO = Path(__file__).resolve().parents[3]
IMAGE = os.environ.get("GATEWAY_IMAGE", "")
collect_ignore_glob = [] if IMAGE else ["test_*.py"]

READY_TIMEOUT_S = 60.0  # waiting bound, not an assertion (the 3 s check is its own test)
FIGURES: dict[str, str] = {}


@functools.cache
def podman() -> list[str]:
    """The engine command line ``make image`` used (tools/image.sh, podman forced)."""
    out = subprocess.run(
        [str(REPO / "tools/image.sh"), "engine"],
        env={**os.environ, "ENGINE": "podman"},
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()


def engine(
    *args: str, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*podman(), *args], capture_output=True, text=True, check=check, timeout=timeout
    )


def wait_ready(base_url: str, started: float, container: str) -> float:
    """Seconds from ``started`` until ``/readyz`` answers 200; fails at once with the logs
    when the container stops first."""
    deadline = started + READY_TIMEOUT_S
    polls = 0
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        polls += 1
        if polls % 10 == 0:
            state = engine("inspect", "--format", "{{.State.Status}}", container, check=False)
            if state.stdout.strip() not in ("created", "running"):
                logs = engine("logs", container, check=False)
                raise AssertionError(f"container {state.stdout.strip()}:\n{logs.stderr}")
        time.sleep(0.05)
    logs = engine("logs", container, check=False)
    raise AssertionError(f"not ready within {READY_TIMEOUT_S} s:\n{logs.stderr}")


@dataclass
class Container:
    """One ``podman run -d`` of the image, published on a free local port."""

    name: str
    port: int
    ready_s: float = 0.0
    env: dict[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def logs(self) -> str:
        out = engine("logs", self.name, check=False)
        return out.stdout + out.stderr

    def exec(self, *command: str) -> subprocess.CompletedProcess[str]:
        return engine("exec", self.name, *command, check=False)

    def remove(self) -> None:
        engine("rm", "-f", "-t", "0", self.name, check=False)


def readme_run(engine_name: str) -> list[str]:
    """The README's (Docker section) ``<engine> run ...`` command, as tokens."""
    section = (REPO / "README.md").read_text().split("\n## Docker\n", 1)[1].split("\n## ", 1)[0]
    (line,) = [line for line in section.splitlines() if line.startswith(f"{engine_name} run ")]
    return shlex.split(line.split("#", 1)[0])


def run_flags() -> list[str]:
    """The README's podman run flags, less ``--rm`` and its ``-p`` (replaced per container)."""
    tokens = readme_run("podman")
    flags = tokens[2:-1]
    flags.remove("--rm")
    at = flags.index("-p")
    del flags[at : at + 2]
    return flags


def run_container(env: dict[str, str] | None = None) -> Container:
    """The image as the README runs it (read-only root filesystem plus a /tmp tmpfs), detached,
    named, on a free local port."""
    container = Container(f"facemesh-test-{uuid.uuid4().hex[:8]}", free_port(), env=env or {})
    flags = [f"--env={k}={v}" for k, v in container.env.items()]
    started = time.monotonic()
    engine(
        "run", "-d", "--name", container.name, *run_flags(),
        "-p", f"127.0.0.1:{container.port}:8000", *flags, IMAGE,
    )  # fmt: skip
    try:
        container.ready_s = wait_ready(container.base_url, started, container.name)
    except BaseException:
        container.remove()
        raise
    return container


@pytest.fixture(scope="session")
def image() -> str:
    inspected = engine("image", "inspect", IMAGE, check=False)
    assert inspected.returncode == 0, f"{IMAGE} not built: run `make image-test`"
    return IMAGE


@pytest.fixture(scope="session")
def image_config(image: str) -> dict[str, Any]:
    config: dict[str, Any] = json.loads(engine("image", "inspect", image).stdout)[0]
    return config


@pytest.fixture(scope="session")
def gateway(image: str) -> Iterator[Container]:
    """The one container most checks share (default settings)."""
    container = run_container()
    yield container
    container.remove()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("image figures (this machine)")
        for name, value in FIGURES.items():
            terminalreporter.write_line(f"{name}: {value}")
