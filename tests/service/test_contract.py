"""The model contract: consistent index lists and detector facts, and one literal home for them."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import get_args

import onnx
import pytest

from service import contract, metrics
from service.core.config import Settings
from service.processing.detection import ssd_anchors

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


@pytest.mark.parametrize("detector", contract.DETECTORS.values(), ids=contract.DETECTORS)
def test_each_detector_box_count_is_its_anchor_layout(detector: contract.DetectorSpec) -> None:
    assert ssd_anchors(detector).shape == (detector.num_boxes, 2)
    assert contract.DETECTOR_SPECS[detector.name].outputs == {
        "regressors": (detector.num_boxes, contract.DETECTOR_NUM_COORDS),
        "classificators": (detector.num_boxes, 1),
    }


def _graph_shapes(path: Path) -> tuple[dict[str, tuple[int | str, ...]], ...]:
    graph = onnx.load(str(path), load_external_data=False).graph

    def dims(values: list[onnx.ValueInfoProto]) -> dict[str, tuple[int | str, ...]]:
        return {
            value.name: tuple(d.dim_value or d.dim_param for d in value.type.tensor_type.shape.dim)
            for value in values
        }

    return dims(list(graph.input)), dims(list(graph.output))


_SETTINGS = Settings()
_BUILT_MODELS = {
    "attention": (_SETTINGS.model_path, contract.ATTENTION_SPEC),
    "cascade mesh": (_SETTINGS.cascade_mesh_path, contract.CASCADE_MESH_SPEC),
    "cascade iris": (_SETTINGS.cascade_iris_path, contract.IRIS_SPEC),
    "short-range detector": (_SETTINGS.detector_model_path, contract.DETECTOR_SPECS["short"]),
    "full-range detector": (_SETTINGS.detector_full_model_path, contract.DETECTOR_SPECS["full"]),
}


@pytest.mark.parametrize("model", _BUILT_MODELS)
def test_each_built_model_has_its_contract_tensors(model: str) -> None:
    path, spec = _BUILT_MODELS[model]
    if not path.is_file():
        pytest.skip(f"{path} missing: run `{spec.build_hint}`")
    inputs, outputs = _graph_shapes(path)
    size = spec.input_size
    assert list(inputs) == [spec.input_name]
    assert inputs[spec.input_name][1:] == (size, size, 3)
    assert {name: shape[1:] for name, shape in outputs.items()} == dict(spec.outputs)


def test_detector_box_counts_are_literal_only_in_the_contract() -> None:
    """An integer 896 or 2304 (the detectors' anchor counts) in product code outside the
    contract is a second copy of a detector fact."""
    counts = {spec.num_boxes for spec in contract.DETECTORS.values()}
    copies = [
        f"{path.relative_to(REPO)}:{node.lineno}"
        for folder in ("service", "converter", "benchmarks", "loadtests", "tools")
        for path in (REPO / folder).rglob("*.py")
        if path != REPO / "service" / "contract.py" and not path.name.endswith("_pb2.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and type(node.value) is int and node.value in counts
    ]
    assert copies == []


def test_blendshape_model_reads_146_landmarks_and_names_52_scores() -> None:
    indices, names = contract.BLENDSHAPE_LANDMARKS, contract.BLENDSHAPE_NAMES
    assert len(indices) == len(set(indices)) == contract.BLENDSHAPES_SPEC.input_shape[0] == 146
    assert list(indices) == sorted(indices)  # MediaPipe's list is ascending
    assert indices[0] >= 0 and indices[-1] < contract.NUM_LANDMARKS
    assert set(contract.LEFT_IRIS + contract.RIGHT_IRIS) <= set(indices)
    assert len(names) == len(set(names)) == contract.BLENDSHAPE_OUTPUTS["blendshapes"][0] == 52
    assert (names[0], names[9], names[25], names[51]) == (
        "_neutral",
        "eyeBlinkLeft",
        "jawOpen",
        "noseSneerRight",
    )


@pytest.mark.parametrize(
    ("folder", "spec"),
    [
        ("face_landmarker", contract.LANDMARKER_SPEC),
        ("face_blendshapes", contract.BLENDSHAPES_SPEC),
    ],
)
def test_each_built_landmarker_model_has_its_contract_tensors(
    folder: str, spec: contract.ModelSpec
) -> None:
    path = REPO / "model_repository" / folder / "1" / "model.onnx"
    if not path.is_file():
        pytest.skip(f"{path} missing: run `{spec.build_hint}`")
    inputs, outputs = _graph_shapes(path)
    assert list(inputs) == [spec.input_name]
    assert inputs[spec.input_name][1:] == spec.input_shape
    assert {name: shape[1:] for name, shape in outputs.items()} == dict(spec.outputs)


def test_detector_kinds_are_the_contracts_detectors() -> None:
    assert get_args(contract.DetectorKind) == tuple(contract.DETECTORS)
    assert (
        *contract.PIPELINES,
        contract.BLENDSHAPES_MODEL,
        *(contract.detector_model(kind) for kind in contract.DETECTORS),
    ) == contract.MODEL_LABELS
    assert metrics.MODELS == contract.MODEL_LABELS


def test_detector_kinds_are_literal_only_in_the_contract() -> None:
    """A string ``"short"``/``"full"`` (or a detector's model label) in service code outside
    the contract is a second spelling of the detector kinds."""
    kinds = set(contract.DETECTORS) | {contract.detector_model(k) for k in contract.DETECTORS}
    copies = [
        f"{path.relative_to(REPO)}:{node.lineno}"
        for path in (REPO / "service").rglob("*.py")
        if path != REPO / "service" / "contract.py" and not path.name.endswith("_pb2.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and node.value in kinds
    ]
    assert copies == []
