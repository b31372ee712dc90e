"""The Triton backend: the fused model served by a Triton Inference Server.

``TritonBackend`` adapts ``TritonModel`` (``service.inference.triton_model``: per-thread
clients, deadlines, retries, the contract check; transports in
``service.inference.triton_transport``) to ``InferenceBackend``: the checked outputs become
``ModelOutputs``.
"""

from __future__ import annotations

from typing import Unpack

import numpy as np

from service.contract import ATTENTION_SPEC, ModelOutputs
from service.core.config import Settings
from service.inference.triton_model import TritonModel, TritonOptions


class TritonBackend(TritonModel):
    """``InferenceBackend`` that forwards crops to Triton's ``model_name`` model."""

    def __init__(self, url: str, **options: Unpack[TritonOptions]) -> None:
        options.setdefault("model_name", Settings.model_fields["model_name"].default)
        super().__init__(url, spec=ATTENTION_SPEC, **options)

    def infer(self, images: np.ndarray) -> ModelOutputs:
        """uint8 [N, 192, 192, 3] RGB -> ``ModelOutputs``; ``BackendUnavailable`` on failure.
        ``run`` validates the batch and every output shape, once."""
        return ModelOutputs(**self.run(images))


def from_settings(settings: Settings) -> TritonBackend:
    """The backend ``Settings`` describe (does not contact Triton: the gateway starts even
    while Triton is down, reports not ready and recovers once Triton answers)."""
    return TritonBackend(
        settings.triton_url,
        protocol=settings.triton_protocol,
        model_name=settings.model_name,
        model_version=settings.model_version,
        timeout_s=settings.triton_timeout_s,
    )
