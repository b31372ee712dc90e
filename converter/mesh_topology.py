"""The face mesh's drawing topology for the web demo, read from the mediapipe wheel at build time.

The wheel's ``mediapipe/python/solutions/face_mesh_connections.py`` lists the tessellation and
the lips/eye/iris/oval contours as literal ``frozenset([(a, b), ...])`` edges. The file is parsed
as data with ``ast`` (never imported or executed; mediapipe is never installed) and written as
JSON for ``service/demo/static/``. The tessellation is written in source order, three edges per
triangle ``(a, b), (b, c), (c, a)``; that layout is checked, so ``triangles`` is exact.
``paths`` adds the demo's try-on outlines as ordered landmark lists (the lips' outer and inner
rings, the upper lids corner to corner), taken from ``service.contract`` and checked to run
along the wheel's contour edges.
"""

from __future__ import annotations

import ast
import json
import zipfile
from pathlib import Path
from typing import Any

from converter.errors import ConversionError, SourceIntegrityError
from converter.source import download_wheel, sha256_of
from service.contract import LEFT_UPPER_LID, LIPS_INNER, LIPS_OUTER, RIGHT_UPPER_LID

CONNECTIONS_MEMBER = "mediapipe/python/solutions/face_mesh_connections.py"
CONNECTIONS_SHA256 = "cc7171e44d0612db38720cb2fd2516c395992cdd7457efe341543be6f3c22d87"
MESH_POINTS = 478  # 468 mesh points + 2 x 5 iris points
TESSELLATION = "FACEMESH_TESSELATION"
# JSON key -> the wheel's constant (the demo draws each in its region's colour).
CONTOURS = {
    "lips": "FACEMESH_LIPS",
    "left_eye": "FACEMESH_LEFT_EYE",
    "right_eye": "FACEMESH_RIGHT_EYE",
    "left_iris": "FACEMESH_LEFT_IRIS",
    "right_iris": "FACEMESH_RIGHT_IRIS",
    "left_eyebrow": "FACEMESH_LEFT_EYEBROW",
    "right_eyebrow": "FACEMESH_RIGHT_EYEBROW",
    "face_oval": "FACEMESH_FACE_OVAL",
}

# JSON key -> (ordered landmarks, closed ring?): the try-on's lipstick and eyeliner outlines.
PATHS: dict[str, tuple[tuple[int, ...], bool]] = {
    "lips_outer": (LIPS_OUTER, True),
    "lips_inner": (LIPS_INNER, True),
    "left_upper_lid": (LEFT_UPPER_LID, False),
    "right_upper_lid": (RIGHT_UPPER_LID, False),
}


class TopologyError(ConversionError):
    """The wheel's connections file does not have the expected shape."""


def literal_edge_lists(source: str) -> dict[str, list[tuple[int, int]]]:
    """``NAME = frozenset([(a, b), ...])`` assignments of ``source`` -> edges in source order.

    Other assignments (e.g. unions of these sets) are ignored; nothing is evaluated but literals.
    """
    found: dict[str, list[tuple[int, int]]] = {}
    for node in ast.parse(source).body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1):
            continue
        target, value = node.targets[0], node.value
        if not (
            isinstance(target, ast.Name)
            and isinstance(value, ast.Call)
            and isinstance(value.func, ast.Name)
            and value.func.id == "frozenset"
            and len(value.args) == 1
        ):
            continue
        items = ast.literal_eval(value.args[0])
        edges = [tuple(edge) for edge in items]
        if not all(len(e) == 2 and all(isinstance(i, int) for i in e) for e in edges):
            raise TopologyError(f"{target.id}: not a list of (int, int) edges")
        found[target.id] = [(int(a), int(b)) for a, b in edges]
    return found


def triangles_of(edges: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """Tessellation edges written as ``(a, b), (b, c), (c, a)`` per triangle -> triangles."""
    if len(edges) % 3:
        raise TopologyError(f"{TESSELLATION}: {len(edges)} edges is not a multiple of 3")
    triangles = []
    for i in range(0, len(edges), 3):
        (a, b), (b2, c), (c2, a2) = edges[i : i + 3]
        if (b, c, a) != (b2, c2, a2):
            raise TopologyError(f"{TESSELLATION}: edges {i}..{i + 2} do not close a triangle")
        triangles.append((a, b, c))
    return triangles


def unique_edges(edges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Undirected edges without repeats, each as ``(low, high)``, in first-seen order."""
    return list(dict.fromkeys((min(a, b), max(a, b)) for a, b in edges))


def checked_paths(contour_edges: list[tuple[int, int]]) -> dict[str, list[int]]:
    """``PATHS`` as lists, each step (and a ring's closing step) a contour edge of the wheel."""
    known = {(min(a, b), max(a, b)) for a, b in contour_edges}
    paths = {}
    for key, (points, closed) in PATHS.items():
        steps = list(zip(points, points[1:] + (points[:1] if closed else ()), strict=False))
        stray = [step for step in steps if (min(step), max(step)) not in known]
        if stray:
            raise TopologyError(f"path {key}: steps {stray} are not contour edges of the wheel")
        paths[key] = list(points)
    return paths


def topology(source: str) -> dict[str, Any]:
    """The JSON document the demo loads: ``triangles``, ``edges``, ``contours``, ``paths``."""
    lists = literal_edge_lists(source)
    missing = [name for name in (TESSELLATION, *CONTOURS.values()) if name not in lists]
    if missing:
        raise TopologyError(f"{CONNECTIONS_MEMBER} lacks {missing}")
    tessellation = lists[TESSELLATION]
    for name, edges in lists.items():
        if any(not 0 <= i < MESH_POINTS for edge in edges for i in edge):
            raise TopologyError(f"{name}: a landmark index outside 0..{MESH_POINTS - 1}")
    return {
        "source": CONNECTIONS_MEMBER,
        "points": MESH_POINTS,
        "triangles": triangles_of(tessellation),
        "edges": unique_edges(tessellation),
        "contours": {key: lists[name] for key, name in CONTOURS.items()},
        "paths": checked_paths([e for name in CONTOURS.values() for e in lists[name]]),
    }


def connections_source(cache_dir: Path) -> str:
    """The connections file's text, out of the cached (downloaded once) mediapipe wheel;
    raises on a sha256 mismatch, as for the wheel's .tflite files."""
    with zipfile.ZipFile(download_wheel(cache_dir)) as wheel:
        data = wheel.read(CONNECTIONS_MEMBER)
    digest = sha256_of(data)
    if digest != CONNECTIONS_SHA256:
        raise SourceIntegrityError(
            f"{CONNECTIONS_MEMBER}: sha256 {digest}, expected {CONNECTIONS_SHA256}"
        )
    return data.decode("utf-8")


def write_topology(cache_dir: Path, output: Path) -> dict[str, Any]:
    """Extract, check and write the topology JSON atomically; returns the document."""
    document = topology(connections_source(cache_dir))
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(document, separators=(",", ":")) + "\n")
    tmp.replace(output)
    return document
