"""End-to-end parity of the converted model with MediaPipe's own pipeline (goldens), on each
embedded runtime the service can run it with (OpenVINO and ONNX Runtime)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from service.contract import ATTENTION_SPEC
from service.inference.runtime import Runtime, RuntimeOptions, open_runtime
from tests.converter.conftest import DATA, load_rgb

MODEL_PX = 192.0
# Crops with no human face, the cat included: MediaPipe scores each far below 0.5.
NONFACES_BELOW_THRESHOLD = ("chelsea.png", "coffee.png", "rocket.png", "coins.png")


@pytest.fixture(scope="module", params=["openvino", "onnxruntime"])
def attention_runtime(
    request: pytest.FixtureRequest,
    attention_onnx: onnx.ModelProto,
    tmp_path_factory: pytest.TempPathFactory,
) -> Runtime:
    """The freshly converted model on one runtime, as the service loads it."""
    path = tmp_path_factory.mktemp(request.param) / "model.onnx"
    onnx.save(attention_onnx, path)
    options = RuntimeOptions(runtime=request.param, device="cpu", threads=2)
    runtime = open_runtime(path, ATTENTION_SPEC, options)
    assert runtime.name == request.param  # no silent fallback
    return runtime


def run(runtime: Runtime, images: np.ndarray) -> dict[str, np.ndarray]:
    return runtime.run(images)


def test_landmarks_match_mediapipe_goldens_on_every_crop(
    attention_runtime: Runtime, crop_goldens: list[dict[str, object]]
) -> None:
    images = np.stack([load_rgb(DATA / "crops" / str(g["file"])) for g in crop_goldens])
    expected = np.array([g["landmarks"] for g in crop_goldens]) * MODEL_PX  # x, y, z in px192
    got = run(attention_runtime, images)["landmarks"]
    error = np.abs(got - expected)
    xy_mean, xy_max, z_mean = error[..., :2].mean(), error[..., :2].max(), error[..., 2].mean()
    worst = str(crop_goldens[int(error[..., :2].max(axis=(1, 2)).argmax())]["file"])
    print(
        f"\nparity over {len(crop_goldens)} crops x 478 points: xy mean {xy_mean:.5f} px, "
        f"xy max {xy_max:.5f} px (worst {worst}), z mean {z_mean:.5f} px"
    )
    assert xy_mean <= 0.05
    assert xy_max <= 0.5
    assert z_mean <= 0.1


def test_batch_of_n_equals_n_single_runs(attention_runtime: Runtime) -> None:
    paths = sorted((DATA / "crops").glob("*.png"))[:12]
    images = np.stack([load_rgb(p) for p in paths])
    batched = run(attention_runtime, images)
    for item in range(len(paths)):
        single = run(attention_runtime, images[item : item + 1])
        for name, value in single.items():
            np.testing.assert_allclose(batched[name][item], value[0], atol=1e-3, err_msg=name)


def test_face_score_agrees_with_mediapipe_on_every_face_crop(
    attention_runtime: Runtime, crop_goldens: list[dict[str, object]]
) -> None:
    """>= 0.5 on every crop MediaPipe accepted; <= 0.5 on the two rotated crops MediaPipe itself
    rejected (its face flag was <= 0.5 there, so they have no golden)."""
    paths = sorted((DATA / "crops").glob("*.png"))
    scores = run(attention_runtime, np.stack([load_rgb(p) for p in paths]))["face_score"]
    accepted = {str(g["file"]) for g in crop_goldens}
    by_name = {p.name: float(s) for p, s in zip(paths, scores, strict=True)}
    rejected = {name: score for name, score in by_name.items() if name not in accepted}
    print(
        f"\nface crops MediaPipe accepted: min face_score "
        f"{min(by_name[n] for n in accepted):.4f}; rejected by MediaPipe: {rejected}"
    )
    assert len(accepted) == 40 and len(rejected) == 2
    assert all(by_name[name] >= 0.5 for name in accepted)
    assert all(score <= 0.5 for score in rejected.values())


@pytest.mark.parametrize("name", NONFACES_BELOW_THRESHOLD)
def test_face_score_is_low_on_non_faces(attention_runtime: Runtime, name: str) -> None:
    score = float(run(attention_runtime, load_rgb(DATA / "nonfaces" / name)[None])["face_score"][0])
    assert 0.0 <= score < 0.5, f"{name}: {score}"


def test_region_outputs_are_the_refined_landmarks(attention_runtime: Runtime) -> None:
    """landmarks[lips/eye indices] carry the region heads' x, y; the mesh keeps its z."""
    from service import contract

    out = run(attention_runtime, load_rgb(DATA / "crops" / "lenna_face0.png")[None])
    np.testing.assert_array_equal(out["landmarks"][0, list(contract.LIPS), :2], out["lips"][0])
    np.testing.assert_array_equal(out["landmarks"][0, 468:473, :2], out["left_iris"][0])
    np.testing.assert_array_equal(out["landmarks"][0, :468, 2], out["mesh"][0, :, 2])
