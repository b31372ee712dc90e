"""One Euro smoothing: the filter's arithmetic, and the acceptance figures through a real
tracking session (``pytest -s`` prints them): jitter on a still real photo with fresh noise
per frame, and lag on the same photo translating 2 px per frame.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from service.processing.postprocess import FaceResult, Region
from service.tracking.smoothing import FaceSmoother, OneEuroFilter, OneEuroParams, face_scale
from tests.service.tracking.conftest import RunSession, png

DATA = Path(__file__).resolve().parents[2] / "data"
PARAMS = OneEuroParams()  # the defaults (Settings.smoothing_*)
WARM_UP = 10  # frames: the session's start (detector ROI, then the first tracked ROIs)
NOISE_SIGMA = 4.0  # per pixel and channel, on 0..255: webcam-like sensor noise
JITTER_REDUCTION = 3.0  # issue 14: at least 3x less jitter
LAG_LIMIT = 0.03  # of the inter-ocular distance


def test_first_sample_passes_and_a_constant_stays() -> None:
    smoother = OneEuroFilter(PARAMS)
    value = np.array([1.0, -2.0, 3.5])
    assert np.array_equal(smoother(value, 0.01), value)
    for _ in range(5):
        assert np.allclose(smoother(value, 0.01), value)


def test_one_step_matches_the_one_euro_formula() -> None:
    """Second sample: speed = change * scale * rate, smoothed with alpha(derivate_cutoff)
    from 0; cutoff = min_cutoff + beta |speed|; output = alpha(cutoff) blend."""
    params = OneEuroParams(min_cutoff=1.0, beta=0.5, derivate_cutoff=2.0, frame_rate=25.0)
    smoother = OneEuroFilter(params)
    smoother(np.array([10.0]), 0.1)
    got = smoother(np.array([14.0]), 0.1)

    def alpha(cutoff: float) -> float:
        return 1.0 / (1.0 + (1.0 / (2 * math.pi * cutoff)) * params.frame_rate)

    speed = alpha(2.0) * (4.0 * 0.1 * 25.0)
    a = alpha(1.0 + 0.5 * speed)
    assert got[0] == pytest.approx(a * 14.0 + (1 - a) * 10.0)


def test_scale_invariance() -> None:
    """The same motion at twice the face size (values and scale doubled) is smoothed the
    same, relatively: the output doubles."""
    rng = np.random.default_rng(0)
    track = np.cumsum(rng.normal(size=(30, 4)), axis=0) + 100.0
    small, large = OneEuroFilter(PARAMS), OneEuroFilter(PARAMS)
    for sample in track:
        a, b = small(sample, 1 / 50.0), large(2 * sample, 1 / 100.0)
    assert np.allclose(b, 2 * a)


def test_face_smoother_keeps_shapes_and_skips_empty_faces() -> None:
    rng = np.random.default_rng(1)
    landmarks = rng.uniform(0, 200, size=(478, 3))
    regions = {"lips": Region(rng.uniform(0, 200, (80, 2)), rng.normal(size=(2, 3)))}
    face = FaceResult(640, 480, 0.9, landmarks, regions)
    smoother = FaceSmoother(PARAMS)
    first = smoother(face)
    assert first.landmarks is not None and first.regions is not None
    assert np.allclose(first.landmarks, landmarks)
    moved = FaceResult(640, 480, 0.9, landmarks + 3.0, regions)
    second = smoother(moved)
    assert second.landmarks is not None and second.regions is not None
    assert second.landmarks.shape == (478, 3) and second.regions["lips"].affine is not None
    assert np.all(second.landmarks < landmarks + 3.0) and np.all(second.landmarks > landmarks)
    empty = FaceResult(640, 480, 0.1, None, None)
    assert smoother(empty) is empty
    assert face_scale(np.array([[0.0, 0.0], [10.0, 30.0]])) == 20.0


def _photo() -> np.ndarray:
    return np.asarray(Image.open(DATA / "frames" / "lenna.png").convert("RGB"))


def _iod(landmarks: np.ndarray) -> float:
    """Inter-ocular distance: between the two iris centres (landmarks 468 and 473)."""
    return float(np.linalg.norm(landmarks[468, :2] - landmarks[473, :2]))


def _landmarks(results: list) -> np.ndarray:
    out = []
    for result in results:
        (face,) = result.faces
        out.append(face.result.landmarks)
    return np.array(out)


@pytest.mark.slow
def test_jitter_on_a_still_noisy_photo(run_session: RunSession) -> None:
    """A still face, fresh Gaussian noise on every frame: the landmarks' standard deviation
    over 60 frames (after the session's 10 warm-up frames), in % of the inter-ocular
    distance, is at least 3x lower with smoothing."""
    photo = _photo().astype(np.float64)
    rng = np.random.default_rng(14)
    payloads = [
        png(np.clip(photo + rng.normal(0.0, NOISE_SIGMA, photo.shape), 0, 255).astype(np.uint8))
        for _ in range(WARM_UP + 60)
    ]
    raw = _landmarks(run_session(payloads, 1, None))
    smooth = _landmarks(run_session(payloads, 1, PARAMS))
    iod = _iod(raw[0])
    raw_jitter = raw[WARM_UP:, :, :2].std(axis=0).mean() / iod
    smooth_jitter = smooth[WARM_UP:, :, :2].std(axis=0).mean() / iod
    whole = raw[:, :, :2].std(axis=0).mean() / smooth[:, :, :2].std(axis=0).mean()
    print(
        f"\njitter ({PARAMS}, noise sigma {NOISE_SIGMA}, IOD {iod:.1f} px): raw "
        f"{100 * raw_jitter:.3f}% IOD, smoothed {100 * smooth_jitter:.3f}% IOD, "
        f"{raw_jitter / smooth_jitter:.2f}x lower (all 70 frames incl. warm-up: {whole:.2f}x)"
    )
    assert raw_jitter / smooth_jitter >= JITTER_REDUCTION


@pytest.mark.slow
def test_lag_on_a_translating_photo(run_session: RunSession) -> None:
    """The same face translating 2 px per frame: after the first 10 frames the smoothed
    landmarks stay within 3% of the inter-ocular distance of the raw ones, on average."""
    photo = _photo()
    height, width = photo.shape[:2]
    payloads = []
    for k in range(60):
        canvas = np.full((height, width + 160, 3), 127, np.uint8)
        canvas[:, 20 + 2 * k : 20 + 2 * k + width] = photo
        payloads.append(png(canvas))
    raw_results = run_session(payloads, 1, None)
    smooth_results = run_session(payloads, 1, PARAMS)
    raw, smooth = _landmarks(raw_results), _landmarks(smooth_results)
    iod = _iod(raw[0])
    errors = np.linalg.norm(smooth[WARM_UP:, :, :2] - raw[WARM_UP:, :, :2], axis=2).mean(axis=1)
    lag = float(errors.mean()) / iod
    print(
        f"\nlag at 2 px/frame ({PARAMS}): mean {100 * lag:.2f}% IOD, worst frame "
        f"{100 * errors.max() / iod:.2f}% IOD (IOD {iod:.1f} px)"
    )
    assert lag <= LAG_LIMIT
    # Both sessions cut every frame from the same ROIs: the ROI comes from raw landmarks.
    for a, b in zip(raw_results, smooth_results, strict=True):
        assert a.faces[0].roi == b.faces[0].roi


def test_first_rate_sets_the_first_steps_period_only() -> None:
    """FaceLandmarker's filter runs its first step at its starting rate (30 Hz), then at the
    stream's: with ``first_rate`` the first step equals a 30 Hz filter's, the second a 15 Hz
    filter's continuing from there."""
    values = [np.array([0.0]), np.array([3.0]), np.array([5.0])]
    at_30 = OneEuroFilter(OneEuroParams(0.05, 80.0, 1.0, frame_rate=30.0))
    at_15 = OneEuroFilter(OneEuroParams(0.05, 80.0, 1.0, frame_rate=15.0))
    mixed = OneEuroFilter(OneEuroParams(0.05, 80.0, 1.0, frame_rate=15.0, first_rate=30.0))
    first = [f(values[0], 0.1) for f in (at_30, at_15, mixed)]
    assert first[0] == first[1] == first[2]
    second = [f(values[1], 0.1) for f in (at_30, at_15, mixed)]
    assert second[2] == second[0] != second[1]
    third = mixed(values[2], 0.1)
    # The third step is a 15 Hz step from the state the 30 Hz first step left.
    at_30.params = OneEuroParams(0.05, 80.0, 1.0, frame_rate=15.0)
    np.testing.assert_array_equal(third, at_30(values[2], 0.1))
