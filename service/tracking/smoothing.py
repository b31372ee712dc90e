"""Temporal smoothing of a tracked face: the One Euro filter (Casiez, Roussel and Vogel,
CHI 2012), made scale-invariant by the face's size as MediaPipe's landmark smoothing does.

Facts from MediaPipe's ``util/filtering/one_euro_filter.cc`` and
``calculators/util/landmarks_smoothing_calculator.cc`` (our own code): every coordinate has
its own filter; the speed that raises the cutoff is the raw value's change per second times
``value_scale = 1 / object_scale``, the object scale being the mean of the width and height
of the face's landmark box in pixels, so one parameter set fits near and far faces; a
low-pass filter's ``alpha = 1 / (1 + tau / te)`` with ``tau = 1 / (2 pi cutoff)`` and ``te``
the time between samples; the first sample passes through unchanged.

One ``OneEuroFilter`` holds the state of any number of coordinates as arrays, so a whole face
(landmarks, region points and affines) is one vectorised update per frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from service.processing.postprocess import FaceResult, Region

# Below this face size (px) there is no meaningful scale (MediaPipe's min_allowed_object_scale).
_MIN_FACE_SCALE = 1e-6


@dataclass(frozen=True)
class OneEuroParams:
    """``min_cutoff`` (Hz): smoothing of a still face (lower: smoother); ``beta``: how fast
    the cutoff rises with speed (in face sizes per second; higher: less lag);
    ``derivate_cutoff`` (Hz): smoothing of that speed; ``frame_rate`` (Hz): the sampling
    rate assumed between frames (the streams carry no timestamps)."""

    min_cutoff: float = 0.05
    beta: float = 40.0
    derivate_cutoff: float = 1.0
    frame_rate: float = 30.0
    # The rate assumed for the first filtered step only (None: ``frame_rate``). FaceLandmarker's
    # filter keeps its starting rate (30 Hz) for the step after a frame stamped 0, whatever
    # the stream's rate (docs/landmarker.md).
    first_rate: float | None = None


def _alpha(cutoff: np.ndarray | float, period: float) -> np.ndarray:
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff, dtype=np.float64))
    return np.asarray(1.0 / (1.0 + tau / period))


class OneEuroFilter:
    """One Euro filter over a float array of fixed shape (each element filtered alone)."""

    def __init__(self, params: OneEuroParams) -> None:
        self.params = params
        self._raw: np.ndarray | None = None
        self._value: np.ndarray | None = None
        self._speed: np.ndarray | None = None
        self._steps = 0  # filtered steps since the first sample

    def reset(self) -> None:
        self._raw = self._value = self._speed = None

    def __call__(self, value: np.ndarray, value_scale: float) -> np.ndarray:
        """The filtered float64 copy of ``value``; ``value_scale`` turns a change of the value
        into the unit ``beta`` is meant for (1 / face size). A change of shape restarts."""
        raw = np.asarray(value, dtype=np.float64)
        period = 1.0 / self.params.frame_rate
        if self._raw is None or self._raw.shape != raw.shape:
            self._raw, self._value, self._speed = raw.copy(), raw.copy(), np.zeros_like(raw)
            self._steps = 0
            return raw.copy()
        if self._steps == 0 and self.params.first_rate is not None:
            period = 1.0 / self.params.first_rate
        self._steps += 1
        assert self._value is not None and self._speed is not None
        speed = (raw - self._raw) * value_scale / period
        a_speed = _alpha(self.params.derivate_cutoff, period)
        self._speed = a_speed * speed + (1.0 - a_speed) * self._speed
        cutoff = self.params.min_cutoff + self.params.beta * np.abs(self._speed)
        a_value = _alpha(cutoff, period)
        self._value = a_value * raw + (1.0 - a_value) * self._value
        self._raw = raw.copy()
        return self._value.copy()


def face_scale(landmarks: np.ndarray) -> float:
    """MediaPipe's object scale: the mean of the width and height of the landmarks' box (px)."""
    points = np.asarray(landmarks, dtype=np.float64)[:, :2]
    extent = points.max(axis=0) - points.min(axis=0)
    return float(extent.mean())


class FaceSmoother:
    """The filters of one tracked face: its landmarks, region points and region affines as
    one One Euro filter, scaled by the raw landmarks' face size. A face without landmarks,
    or one too small to give a scale, passes through unchanged."""

    def __init__(self, params: OneEuroParams) -> None:
        self._filter = OneEuroFilter(params)

    def __call__(self, result: FaceResult) -> FaceResult:
        if result.landmarks is None or result.regions is None:
            return result
        scale = face_scale(result.landmarks)
        if not scale > _MIN_FACE_SCALE:
            return result
        names = sorted(result.regions)
        parts = [result.landmarks]
        for name in names:
            region = result.regions[name]
            parts.append(region.landmarks)
            if region.affine is not None:
                parts.append(region.affine)
        sizes = [part.size for part in parts]
        flat = self._filter(np.concatenate([np.ravel(part) for part in parts]), 1.0 / scale)
        chunks = iter(np.split(flat, np.cumsum(sizes)[:-1]))
        landmarks = next(chunks).reshape(result.landmarks.shape)
        regions: dict[str, Region] = {}
        for name in names:
            region = result.regions[name]
            points = next(chunks).reshape(region.landmarks.shape)
            affine = None if region.affine is None else next(chunks).reshape(region.affine.shape)
            regions[name] = Region(points, affine)
        return replace(result, landmarks=landmarks, regions=regions)
