"""The model contract: consistent index lists, and one literal home for them."""

from __future__ import annotations

from pathlib import Path

from service import contract

REPO = Path(__file__).resolve().parents[2]


def test_region_lists_are_disjoint_where_mediapipe_keeps_them_apart() -> None:
    assert len(contract.LIPS) == len(set(contract.LIPS)) == contract.MODEL_OUTPUTS["lips"][0]
    for eye in (contract.LEFT_EYE, contract.RIGHT_EYE):
        assert len(eye) == len(set(eye)) == contract.MODEL_OUTPUTS["left_eye"][0]
    assert not set(contract.LEFT_EYE) & set(contract.RIGHT_EYE)
    irises = contract.LEFT_IRIS + contract.RIGHT_IRIS
    assert irises == tuple(range(contract.NUM_MESH, contract.NUM_LANDMARKS))


def test_rotation_landmarks_belong_to_their_regions() -> None:
    assert set(contract.LEFT_EYE_CORNERS) <= set(contract.LEFT_EYE)
    assert set(contract.RIGHT_EYE_CORNERS) <= set(contract.RIGHT_EYE)
    assert set(contract.LIPS_CORNERS) <= set(contract.LIPS)
    assert (contract.LEFT_EYE_CORNERS[0], contract.RIGHT_EYE_CORNERS[1]) == contract.FACE_ROTATION


def test_index_lists_are_literal_only_in_the_contract() -> None:
    """The lips list's first indices, or the output-shape literals, written anywhere else in
    the product code means a second copy that can drift."""
    needles = ("61, 146, 91, 181", "33, 7, 163, 144", "263, 249, 390, 373", '"landmarks": (478')
    copies = [
        f"{path.relative_to(REPO)}: {needle}"
        for folder in ("service", "converter", "benchmarks", "loadtests", "tools")
        for path in (REPO / folder).rglob("*.py")
        if path != REPO / "service" / "contract.py"
        for needle in needles
        if needle in path.read_text(encoding="utf-8")
    ]
    assert copies == []
