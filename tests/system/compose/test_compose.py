"""docker-compose.yml (+ the CPU override) against the Compose schema and the rest of the repo.

``docker compose config`` needs Docker; this machine and CI have none, so the files are
validated with the Compose specification's own JSON schema (vendored, see README.md), merged
the way Compose merges an override (``!reset`` included), and checked for consistency with
``Settings``, ``model_repository/`` and ``deploy/monitoring/prometheus-compose.yml``. Where a
``docker`` CLI with Compose v2 exists, ``docker compose config`` runs as well.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from service.core.config import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[3]
BASE = ROOT / "docker-compose.yml"
CPU = ROOT / "docker-compose.cpu.yml"
PROMETHEUS = ROOT / "deploy" / "monitoring" / "prometheus-compose.yml"
SCHEMA = Path(__file__).with_name("compose-spec.json")


class Reset:
    """``!reset``: remove the key from the merged result."""


class ComposeLoader(yaml.SafeLoader):
    """YAML with Compose's merge tags."""


ComposeLoader.add_constructor("!reset", lambda loader, node: Reset())


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.load(path.read_text(), Loader=ComposeLoader)
    return data


def without_resets(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_resets(v) for k, v in value.items() if not isinstance(v, Reset)}
    return value


# Sequences an override replaces (Compose merges the others, e.g. ports and volumes, by union).
REPLACED = {"command", "entrypoint", "healthcheck"}


def merge(base: Any, override: Any, key: str = "") -> Any:
    if isinstance(override, Reset):
        return Reset()
    if isinstance(base, dict) and isinstance(override, dict) and key not in REPLACED:
        merged = dict(base)
        for k, v in override.items():
            merged[k] = merge(base.get(k), v, k) if k in base else v
        return {k: v for k, v in merged.items() if not isinstance(v, Reset)}
    if isinstance(base, list) and isinstance(override, list) and key not in REPLACED:
        return base + [item for item in override if item not in base]
    return override


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    schema = json.loads(SCHEMA.read_text())
    return jsonschema.Draft7Validator(schema)


@pytest.fixture(scope="module")
def stacks() -> dict[str, dict[str, Any]]:
    base = load(BASE)
    return {"gpu": base, "cpu": merge(base, load(CPU))}


def settings_of(environment: dict[str, str]) -> Settings:
    """The gateway's Settings as the compose environment sets them."""
    return Settings(**{k.removeprefix(ENV_PREFIX).lower(): v for k, v in environment.items()})


def flag(command: list[str], name: str) -> str | None:
    values = [arg.split("=", 1)[1] for arg in command if arg.startswith(f"{name}=")]
    return values[-1] if values else None


@pytest.mark.parametrize("path", [BASE, CPU], ids=["base", "cpu-override"])
def test_file_matches_the_compose_schema(path: Path, validator: jsonschema.Draft7Validator) -> None:
    errors = sorted(validator.iter_errors(without_resets(load(path))), key=str)
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


@pytest.mark.parametrize("stack", ["gpu", "cpu"])
def test_merged_stack_matches_the_compose_schema(
    stack: str, stacks: dict[str, dict[str, Any]], validator: jsonschema.Draft7Validator
) -> None:
    errors = sorted(validator.iter_errors(stacks[stack]), key=str)
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_gpu_reserved_in_base_only(stacks: dict[str, dict[str, Any]]) -> None:
    devices = stacks["gpu"]["services"]["triton"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    assert "deploy" not in stacks["cpu"]["services"]["triton"]


@pytest.mark.parametrize("stack", ["gpu", "cpu"])
def test_triton_serves_the_model_repository(stack: str, stacks: dict[str, dict[str, Any]]) -> None:
    triton = stacks[stack]["services"]["triton"]
    command = triton["command"]
    assert command[0] == "tritonserver"
    repository = flag(command, "--model-repository")
    mounts = {v.split(":")[1]: v.split(":")[0] for v in triton["volumes"]}
    assert (ROOT / mounts[repository] / "facemesh" / "config.pbtxt").is_file()
    config_name = flag(command, "--model-config-name")
    if stack == "cpu":
        assert config_name == "cpu"
        for model in ("facemesh", "face_detector"):  # Triton's OpenVINO backend on CPU
            cpu = (ROOT / "model_repository" / model / "configs" / "cpu.pbtxt").read_text()
            assert 'backend: "openvino"' in cpu.splitlines(), model
    else:
        assert config_name is None  # config.pbtxt, KIND_GPU
    assert flag(command, "--strict-readiness") == "true"
    # Explicit model control: exactly the models the gateway calls, each with a config.
    assert flag(command, "--model-control-mode") == "explicit"
    loaded = {arg.split("=", 1)[1] for arg in command if arg.startswith("--load-model=")}
    gateway = settings_of(stacks[stack]["services"]["gateway"]["environment"])
    assert loaded == {
        gateway.model_name,
        gateway.detector_model_name,
        gateway.landmarker_model_name,
        gateway.blendshapes_model_name,
    }
    for model in loaded:
        assert (ROOT / mounts[repository] / model / "config.pbtxt").is_file(), model


@pytest.mark.parametrize("stack", ["gpu", "cpu"])
def test_gateway_points_at_triton(stack: str, stacks: dict[str, dict[str, Any]]) -> None:
    services = stacks[stack]["services"]
    env = services["gateway"]["environment"]
    unknown = {
        name for name in env if name.removeprefix(ENV_PREFIX).lower() not in Settings.model_fields
    }
    assert unknown == set(), "not Settings fields"
    settings = settings_of(env)
    assert settings.backend == "triton"
    host, port = settings.triton_url.split(":")
    assert host in services
    port_flag = "--grpc-port" if settings.triton_protocol == "grpc" else "--http-port"
    assert flag(services[host]["command"], port_flag) == port
    assert settings.inference_concurrency > 1, "Triton can only batch concurrent calls"


def test_prometheus_scrapes_gateway_and_triton(stacks: dict[str, dict[str, Any]]) -> None:
    services = stacks["gpu"]["services"]
    mounts = dict(v.split(":")[:2] for v in services["prometheus"]["volumes"])
    assert mounts["./deploy/monitoring/prometheus-compose.yml"] == "/etc/prometheus/prometheus.yml"
    assert "--config.file=/etc/prometheus/prometheus.yml" in services["prometheus"]["command"]
    config = yaml.safe_load(PROMETHEUS.read_text())
    targets = {
        job["job_name"]: (target, job.get("metrics_path", "/metrics"))
        for job in config["scrape_configs"]
        for group in job["static_configs"]
        for target in group["targets"]
    }
    gateway_target, gateway_path = targets["facemesh-gateway"]
    assert gateway_target == f"gateway:{Settings().port}"
    assert gateway_path.rstrip("/") == "/metrics"
    triton_target, _ = targets["triton"]
    host, port = triton_target.split(":")
    assert flag(services[host]["command"], "--metrics-port") == port
    assert flag(services[host]["command"], "--allow-metrics") == "true"


def compose_v2_available() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(
        ["docker", "compose", "version"], capture_output=True, text=True, check=False
    )
    return probe.returncode == 0


@pytest.mark.skipif(not compose_v2_available(), reason="no docker CLI with Compose v2 here")
@pytest.mark.parametrize("files", [[BASE], [BASE, CPU]], ids=["gpu", "cpu"])
def test_docker_compose_config(files: list[Path]) -> None:
    args = [arg for path in files for arg in ("-f", str(path))]
    result = subprocess.run(
        ["docker", "compose", *args, "config", "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
