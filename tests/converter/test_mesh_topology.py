"""The demo's mesh topology, parsed (never imported) from the wheel's connections file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from converter.__main__ import main
from converter.mesh_topology import (
    CONNECTIONS_MEMBER,
    TopologyError,
    checked_paths,
    connections_source,
    literal_edge_lists,
    topology,
    triangles_of,
)
from tests.converter.conftest import CACHE


@pytest.fixture(scope="module")
def source() -> str:
    return connections_source(CACHE)


def test_the_wheel_gives_a_closed_triangulated_mesh(source: str) -> None:
    document = topology(source)
    assert document["source"] == CONNECTIONS_MEMBER and document["points"] == 478
    triangles = document["triangles"]
    assert len(triangles) == 852
    edges = {tuple(e) for e in document["edges"]}
    for a, b, c in triangles:
        assert len({a, b, c}) == 3
        for edge in ((a, b), (b, c), (c, a)):
            assert (min(edge), max(edge)) in edges
    # The tessellation covers the 468 mesh points; the 10 iris points only have contours.
    assert {i for t in triangles for i in t} == set(range(468))
    contours = document["contours"]
    assert len(contours["lips"]) == 40 and len(contours["left_eye"]) == 16
    assert {i for e in contours["left_iris"] for i in e} == {474, 475, 476, 477}
    assert {i for e in contours["right_iris"] for i in e} == {469, 470, 471, 472}


def test_only_literal_frozensets_are_read() -> None:
    text = (
        "import os\n"
        "A = frozenset([(1, 2), (2, 3)])\n"
        "B = frozenset().union(*[A])\n"
        "C = A | A\n"
        "D = frozenset([(1, 2)]) if os else None\n"
    )
    assert literal_edge_lists(text) == {"A": [(1, 2), (2, 3)]}
    with pytest.raises(ValueError):  # a call inside the list is not a literal: not evaluated
        literal_edge_lists("A = frozenset([(1, len('ab'))])\n")
    with pytest.raises(TopologyError):
        literal_edge_lists("A = frozenset([(1, 2, 3)])\n")


def test_tessellation_that_does_not_close_triangles_is_rejected() -> None:
    assert triangles_of([(1, 2), (2, 3), (3, 1)]) == [(1, 2, 3)]
    with pytest.raises(TopologyError, match="do not close"):
        triangles_of([(1, 2), (2, 3), (3, 4)])
    with pytest.raises(TopologyError, match="multiple of 3"):
        triangles_of([(1, 2)])


def test_missing_constants_and_out_of_range_indices_are_rejected(source: str) -> None:
    with pytest.raises(TopologyError, match="lacks"):
        topology("FACEMESH_TESSELATION = frozenset([(1, 2), (2, 3), (3, 1)])\n")
    with pytest.raises(TopologyError, match="outside"):
        topology(source.replace("(61, 146)", "(61, 478)", 1))


def test_cli_writes_the_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "static" / "mesh.json"
    assert main(["mesh-topology", "--output", str(output), "--cache", str(CACHE)]) == 0
    assert len(json.loads(output.read_text())["triangles"]) == 852
    assert not list(output.parent.glob("*.tmp"))
    assert "852 triangles" in capsys.readouterr().out


def test_try_on_paths_run_along_the_wheels_contours(source: str) -> None:
    paths = topology(source)["paths"]
    assert set(paths) == {"lips_outer", "lips_inner", "left_upper_lid", "right_upper_lid"}
    assert len(paths["lips_outer"]) == len(paths["lips_inner"]) == 20
    assert not set(paths["lips_outer"]) & set(paths["lips_inner"])
    # The upper lids run corner to corner (the cascade's eye-ROI corners).
    assert {paths["left_upper_lid"][0], paths["left_upper_lid"][-1]} == {33, 133}
    assert {paths["right_upper_lid"][0], paths["right_upper_lid"][-1]} == {263, 362}
    with pytest.raises(TopologyError, match="not contour edges"):
        checked_paths([(61, 146)])
