"""The loaded face detectors by kind (``short``, ``full``), built once at start-up.

``Detectors.pick`` is the one place that says whether a detector is loaded: a kind a request
names but the gateway did not load is the request's fault (``InvalidParameter``, 422); the
default kind missing is the gateway's (``BackendUnavailable``, 503). A ``Detector`` runs one
kind on a frame through that model's one micro-batching caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from service.contract import DetectorSpec
from service.core.errors import BackendUnavailable, InvalidParameter
from service.inference.detector import DetectorCaller
from service.processing.detection import (
    Detection,
    letterbox,
    postprocess_detections,
    turned_letterboxes,
)


@dataclass(frozen=True)
class Detector:
    """One detector kind: its spec, its ``ModelCaller`` and the detection score threshold
    (``Settings.detection_score_threshold``)."""

    spec: DetectorSpec
    caller: DetectorCaller
    score_threshold: float

    def detect(self, image: np.ndarray, max_faces: int, size: tuple[int, int]) -> list[Detection]:
        """The faces in ``image`` (frame pixels of a frame of ``size`` = (width, height);
        ``image`` may be a reduced decode of it), best first, at most ``max_faces``.
        Blocking: call it from a worker thread."""
        regressors, classificators = self.caller.infer_blocking(
            letterbox(image, self.spec.input_size)[None]
        )
        width, height = size
        detections = postprocess_detections(
            regressors[0], classificators[0], width, height, self.score_threshold, spec=self.spec
        )
        return detections[:max_faces]

    def detect_turned(
        self, image: np.ndarray, max_faces: int, size: tuple[int, int]
    ) -> list[Detection]:
        """The rotation search: the detector on ``image`` turned by 90, 180 and 270 degrees
        (one call, batch of 3). Returns the detections (frame pixels, best first, at most
        ``max_faces``) of the turn whose best detection scores highest; [] when none."""
        regressors, classificators = self.caller.infer_blocking(
            turned_letterboxes(image, self.spec.input_size)
        )
        width, height = size
        found = [
            each
            for each in (
                postprocess_detections(
                    regressors[k - 1],
                    classificators[k - 1],
                    width,
                    height,
                    self.score_threshold,
                    k,
                    self.spec,
                )
                for k in (1, 2, 3)
            )
            if each
        ]
        if not found:
            return []
        return max(found, key=lambda each: each[0].score)[:max_faces]


class Detectors:
    """Every loaded detector by kind and the default kind (``Settings.detector``), which
    may itself be missing (its model not built: frames answer 503)."""

    def __init__(self, loaded: Mapping[str, Detector], default: str) -> None:
        self._loaded = dict(loaded)
        self.default = default

    @property
    def kinds(self) -> list[str]:
        """The loaded kinds (what ``?detector=`` may name)."""
        return list(self._loaded)

    def pick(self, kind: str | None = None) -> Detector:
        """The ``kind`` detector (None: the default one). Raises ``InvalidParameter`` for a
        named kind that is not loaded, ``BackendUnavailable`` when the default is not."""
        if kind is None:
            detector = self._loaded.get(self.default)
            if detector is None:
                raise BackendUnavailable("the face detector is not loaded (build it: make model)")
            return detector
        detector = self._loaded.get(kind)
        if detector is None:
            raise InvalidParameter(
                f"query.detector: detector {kind!r} is not loaded; "
                f"loaded: {', '.join(self._loaded)}"
            )
        return detector
