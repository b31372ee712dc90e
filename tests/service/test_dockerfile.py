"""The gateway Dockerfile's essentials, read without an engine (``make image-test`` builds and
runs the image for real: tests/system/image): slim base, non-root user, healthcheck on /readyz, port
8000, ``python -m service``, every COPY source in the build context, every ``service`` module
the converter imports copied into the build stage before it runs, and every package the
service imports installed in the runtime image."""

from __future__ import annotations

import ast
import fnmatch
import json
import re
import sys
from importlib import metadata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"


def instructions() -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def build_args() -> dict[str, str]:
    return dict(
        arg.split("=", 1) for keyword, arg in instructions() if keyword == "ARG" and "=" in arg
    )


def test_every_stage_uses_a_slim_base() -> None:
    args = build_args()
    for keyword, rest in instructions():
        if keyword == "FROM":
            image = rest.split()[0]
            image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image)
            assert "slim" in image, image


def test_runtime_runs_as_a_non_root_user_that_is_created() -> None:
    stage = final_stage()
    users = [rest for keyword, rest in stage if keyword == "USER"]
    assert users, "final stage has no USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    created = " ".join(rest for keyword, rest in stage if keyword == "RUN")
    assert re.search(rf"useradd .*--uid {user}\b", created) or f"useradd {user}" in created
    keywords = [keyword for keyword, _ in stage]
    assert keywords.index("USER") < keywords.index("CMD")


def test_healthcheck_probes_readyz_and_cmd_serves_the_gateway() -> None:
    stage = dict(final_stage())
    assert "/readyz" in stage["HEALTHCHECK"]
    assert "--interval=" in stage["HEALTHCHECK"]
    assert json.loads(stage["CMD"]) == ["python", "-m", "service"]
    assert "8000" in stage["EXPOSE"].split()


def test_healthcheck_command_is_valid_python() -> None:
    command = json.loads(dict(final_stage())["HEALTHCHECK"].split("CMD", 1)[1])
    assert command[:2] == ["python", "-c"]
    ast.parse(command[2])


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; ``!`` re-includes."""
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        if fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/"):
            ignored = not negated
    return ignored


def test_copied_sources_exist_and_are_in_the_build_context() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert _ignored(".venv/bin/python", patterns)
    assert _ignored(".git/HEAD", patterns)
    sources = [
        rest.split()[:-1]
        for keyword, rest in instructions()
        if keyword == "COPY" and "--from" not in rest
    ]
    assert sources
    for group in sources:
        for source in group:
            source = source.rstrip("/")
            assert (REPO / source).exists(), source
            assert not _ignored(source, patterns), source
            if (REPO / source).is_dir():
                assert not _ignored(f"{source}/__init__.py", patterns), source


def _requirement(line: str) -> tuple[str, set[str]]:
    """``"uvicorn[standard]==1 ; x"`` -> ``("uvicorn", {"standard"})``."""
    match = re.match(r"\s*([A-Za-z0-9_.-]+)\s*(?:\[([^\]]*)\])?", line)
    if not match:
        return "", set()
    extras = {e.strip() for e in (match.group(2) or "").split(",") if e.strip()}
    return match.group(1).lower().replace("_", "-"), extras


def _runtime_requirements() -> dict[str, set[str]]:
    """Runtime image's requirement names -> requested extras: requirements.txt minus the
    Dockerfile's ``IMAGE_EXCLUDES``."""
    dropped = set(build_args()["IMAGE_EXCLUDES"].strip('"').split())
    assert {"onnx", "grpcio-tools"} <= dropped
    names: dict[str, set[str]] = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        name, extras = _requirement(line.split("#")[0])
        if name and name not in dropped:
            names[name] = extras
    return names


# Imported by service modules but deliberately not in the image: the OpenVINO-only runtime
# never reaches it (docs/operations.md, Containers; tests/system/image checks the claim).
NOT_IN_IMAGE = {"onnxruntime"}


def _closure(requirements: dict[str, set[str]]) -> set[str]:
    """Every distribution installed by ``requirements`` (dependencies and requested extras)."""
    seen: dict[str, set[str]] = {}
    todo = list(requirements.items())
    while todo:
        name, extras = todo.pop()
        if name in seen and extras <= seen[name]:
            continue
        seen[name] = seen.get(name, set()) | extras
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for requirement in requires:
            marker = re.search(r"extra\s*==\s*[\"']([^\"']+)[\"']", requirement)
            if marker and marker.group(1) not in seen[name]:
                continue
            todo.append(_requirement(requirement.split(";")[0]))
    return set(seen)


@pytest.mark.parametrize("module_file", sorted((REPO / "service").rglob("*.py")), ids=str)
def test_runtime_image_installs_what_the_service_imports(module_file: Path) -> None:
    installed = _closure(_runtime_requirements())
    owners = metadata.packages_distributions()
    for node in ast.walk(ast.parse(module_file.read_text())):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        else:
            continue
        for module in modules:
            top = module.split(".")[0]
            if top in sys.stdlib_module_names or top == "service" or top in NOT_IN_IMAGE:
                continue
            dists = {d.lower().replace("_", "-") for d in owners.get(top, [])}
            assert dists & installed, f"{module_file.name} imports {top} ({dists}), not installed"


def test_converter_service_imports_are_copied_before_the_models_are_built() -> None:
    # The converter imports service.contract; a build stage without it stops with
    # ModuleNotFoundError (tests/system/image fails then too, this says why without an engine).
    steps = instructions()
    build_run = next(i for i, (kw, rest) in enumerate(steps) if "converter build" in rest)
    copied = {
        source.rstrip("/")
        for keyword, rest in steps[:build_run]
        if keyword == "COPY" and "--from" not in rest
        for source in rest.split()[:-1]
    }
    needed = {"service/__init__.py"}
    for module_file in (REPO / "converter").rglob("*.py"):
        for node in ast.walk(ast.parse(module_file.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                top, _, _ = node.module.partition(".")
                needed |= {node.module.replace(".", "/") + ".py"} if top == "service" else set()
    assert len(needed) > 1
    for path in needed:
        assert (REPO / path).is_file(), path
        assert path in copied or any(path.startswith(f"{c}/") for c in copied), path


def test_image_builds_every_model_file_the_settings_point_at() -> None:
    from service.core.config import REPO_ROOT, Settings

    dockerfile = DOCKERFILE.read_text()
    model_files = [
        field.default.relative_to(REPO_ROOT)
        for field in Settings.model_fields.values()
        if isinstance(field.default, Path) and field.default.suffix == ".onnx"
    ]
    assert model_files
    for relative in model_files:
        assert f"--output {relative}" in dockerfile, relative
        assert f"/app/{relative}" in dockerfile, relative  # and the setting points at it


def test_grpc_stubs_are_generated_in_the_build_not_copied_from_the_context() -> None:
    patterns = [line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line.strip()]
    assert _ignored("service/tracking/tracking_pb2.py", patterns)
    assert _ignored("service/tracking/tracking_pb2_grpc.py", patterns)
    assert not _ignored("service/tracking/tracking.proto", patterns)
    assert "grpc_tools.protoc" in DOCKERFILE.read_text()


def test_demo_mesh_topology_is_generated_in_the_build_not_copied_from_the_context() -> None:
    patterns = [line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line.strip()]
    assert _ignored("service/demo/static/mesh.json", patterns)
    assert not _ignored("service/demo/static/demo.js", patterns)
    dockerfile = DOCKERFILE.read_text()
    assert "converter mesh-topology --output service/demo/static/mesh.json" in dockerfile
    assert "/src/service/demo/static/mesh.json /app/service/demo/static/mesh.json" in dockerfile
