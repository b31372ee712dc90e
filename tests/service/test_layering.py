"""The import graph of ``service/`` runs one way: no module imports from a higher floor.

core, contract <- metrics, processing <- inference <- pipelines <- tracking, encoders <- api, demo
<- main
(lifespan, main and __main__ assemble everything). Imports under ``TYPE_CHECKING`` count too.
The lowest floor (``core``, ``contract``) imports no web framework or RPC library either: what
it holds (settings, error tables, the model contract) is read by every edge alike.
"""

from __future__ import annotations

import ast
from pathlib import Path

SERVICE = Path(__file__).resolve().parents[2] / "service"

FLOORS: dict[str, int] = {
    "core": 0,
    "contract": 0,
    "metrics": 1,  # reads core.errors.ERROR_CODES
    "processing": 1,
    "inference": 2,
    "pipelines": 3,
    "tracking": 4,
    "encoders": 4,  # results -> JSON / protobuf (the gRPC stream in tracking uses it)
    "api": 5,
    "demo": 5,  # static files for /demo/ and their mount (an HTTP edge, like api)
    "lifespan": 6,
    "main": 6,
    "__main__": 6,
}


def _floor(module: str) -> int:
    """Floor of a dotted ``service.x...`` name (its first component after ``service``)."""
    parts = module.split(".")
    return FLOORS[parts[1]] if len(parts) > 1 else max(FLOORS.values())


# Third-party packages of the edges (HTTP, gRPC, Prometheus) that the lowest floor never imports.
EDGE_PACKAGES = frozenset({"fastapi", "starlette", "uvicorn", "grpc", "prometheus_client"})


def _all_imports(path: Path) -> set[str]:
    """Every absolute module name ``path`` imports (``from a import b`` gives ``a`` and ``a.b``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def _imports(path: Path) -> set[str]:
    """The ``service.`` modules ``path`` imports (``from service import x`` gives ``service.x``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "service":
                names.update(f"service.{alias.name}" for alias in node.names)
            elif node.module.startswith("service."):
                names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("service."))
    return names


def test_every_top_level_name_has_a_floor() -> None:
    tops = {p.stem if p.is_file() else p.name for p in SERVICE.iterdir()}
    tops -= {"__init__", "__pycache__", "py.typed"}
    assert tops <= set(FLOORS), tops - set(FLOORS)


def test_no_import_runs_back_up() -> None:
    upward = []
    for path in sorted(SERVICE.rglob("*.py")):
        relative = path.relative_to(SERVICE.parent).with_suffix("")
        module = ".".join(relative.parts)
        if module.endswith("_pb2") or module.endswith("_pb2_grpc") or module == "service":
            continue
        own = _floor(module.removesuffix(".__init__"))
        for imported in _imports(path):
            if _floor(imported) > own:
                upward.append(f"{module} -> {imported}")
    assert upward == []


def test_the_lowest_floor_imports_no_web_framework() -> None:
    lowest = [SERVICE / "contract.py", *sorted((SERVICE / "core").rglob("*.py"))]
    found = []
    for path in lowest:
        tops = {name.split(".")[0] for name in _all_imports(path)}
        found += [f"{path.relative_to(SERVICE.parent)} -> {top}" for top in tops & EDGE_PACKAGES]
    assert found == []
