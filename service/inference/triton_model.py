"""One model on a Triton server: per-thread clients, deadlines, retries, the contract check.

``TritonModel.run(images)`` is the raw call every Triton-backed model shares (the mesh backend
in ``service.inference.triton``, the face detector in ``service.inference.detector``); the
protocols themselves are ``service.inference.triton_transport``.

Connection reuse
    One transport (client) per calling thread, kept while its connection works: the pipeline
    calls from a small fixed thread pool. A client whose connection failed is replaced on that
    thread's next call.
Timeouts
    Every call has a deadline (``timeout_s`` for inference, at most ``READY_TIMEOUT_S`` for
    readiness), and each transport call is given what is left of it, so a hung Triton costs a
    request its timeout, never a hang.
Retries
    Only where safe: a connection-level failure (``Unreachable``: refused, reset, gRPC
    ``UNAVAILABLE``) is retried up to ``retries`` times inside the same deadline. Inference is a
    pure function, so a repeat cannot change any state. Timeouts are not retried (the request
    may still be running in Triton; a retry would double the load exactly when Triton is slow),
    nor are errors Triton answered with (a retry would get the same answer).
Failures
    Anything that stops a call raises ``BackendUnavailable`` (the gateway answers 503 with
    ``Retry-After``). Nothing is cached across failures: a client whose connection failed is
    replaced (and a gRPC channel's own reconnect backoff is capped), so the gateway recovers
    when Triton returns, without a restart.
Readiness
    ``is_ready`` is Triton's own model readiness for ``model_name``/``model_version``. The first
    time Triton answers, the model's metadata is checked once against its ``ModelSpec``
    (``service.contract``), so a wrongly deployed model fails readiness loudly.
Validation
    ``run`` checks the batch once, against the spec, before any call; outputs are checked
    once, after the chunks are joined.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Literal, TypedDict

import numpy as np

from service.contract import ModelSpec
from service.core.config import Settings
from service.core.errors import BackendUnavailable
from service.inference.base import check_input_batch
from service.inference.triton_transport import (
    Failed,
    Transport,
    TritonTarget,
    Unreachable,
    open_transport,
)

logger = logging.getLogger(__name__)

TritonProtocol = Literal["grpc", "http"]
# The protocol and timeout defaults are the Settings fields' (their one home).
_SETTINGS = Settings.model_fields


class TritonOptions(TypedDict, total=False):
    """How to reach one model on Triton: what every Triton-backed model takes besides its
    URL and spec (``model_name`` is required by ``TritonModel``; the other defaults are its
    own, read from the Settings fields)."""

    protocol: str
    model_name: str
    model_version: str
    timeout_s: float
    retries: int


READY_TIMEOUT_S = 2.0
_RETRY_PAUSE_S = 0.05


def check_metadata(metadata: dict[str, Any], spec: ModelSpec) -> None:
    """Raise ``ValueError`` unless Triton's model metadata matches ``spec`` (the model contract).

    Triton reports shapes with the batch dimension as -1; an output that is [N] in the
    contract (``face_score``) is [N, 1] in Triton (its config reshapes it, Triton needs a
    non-batch dim).
    """
    inputs = {tensor["name"]: tensor for tensor in metadata.get("inputs", [])}
    given = inputs.get(spec.input_name)
    want_input = [-1, *spec.input_shape]
    dtype = spec.triton_dtype
    if given is None or given["datatype"] != dtype or _dims(given) != want_input:
        raise ValueError(f"Triton input {spec.input_name!r} is {given}, want {dtype} {want_input}")
    outputs = {tensor["name"]: tensor for tensor in metadata.get("outputs", [])}
    for name, shape in spec.outputs.items():
        tensor = outputs.get(name)
        want = [-1, *shape] if shape else [-1, 1]
        if tensor is None or tensor["datatype"] != "FP32" or _dims(tensor) != want:
            raise ValueError(f"Triton output {name!r} is {tensor}, want FP32 {want}")


def _split(images: np.ndarray, size: int) -> list[np.ndarray]:
    return [images[start : start + size] for start in range(0, len(images), size)]


def _dims(tensor: dict[str, Any]) -> list[int]:
    return [int(dim) for dim in tensor.get("shape", [])]


class TritonModel:
    """One model on a Triton server (module docstring), checked once against ``spec``."""

    name = "triton"
    # Triton batches dynamically: every batch size runs as is, without padding.
    batch_sizes: tuple[int, ...] = ()

    def __init__(
        self,
        url: str,
        *,
        spec: ModelSpec,
        model_name: str,
        protocol: str = _SETTINGS["triton_protocol"].default,
        model_version: str = "",
        timeout_s: float = _SETTINGS["triton_timeout_s"].default,
        retries: int = 1,
    ) -> None:
        if protocol not in ("grpc", "http"):
            raise ValueError(f"protocol must be 'grpc' or 'http', not {protocol!r}")
        if timeout_s <= 0 or retries < 0:
            raise ValueError("timeout_s must be > 0 and retries >= 0")
        self.protocol: TritonProtocol = "grpc" if protocol == "grpc" else "http"
        self.timeout_s = timeout_s
        self.retries = retries
        self._target = TritonTarget(url, model_name, model_version, spec)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._transports: list[Transport] = []
        self._contract_checked = False
        self._max_batch = 0
        self._closed = False

    @classmethod
    def from_settings(cls, settings: Settings, spec: ModelSpec, model_name: str) -> TritonModel:
        """``model_name`` (version 1) at the Settings' Triton URL, protocol and timeout."""
        return cls(
            settings.triton_url,
            spec=spec,
            protocol=settings.triton_protocol,
            model_name=model_name,
            model_version="1",
            timeout_s=settings.triton_timeout_s,
        )

    @property
    def url(self) -> str:
        return self._target.url

    def _transport(self) -> Transport:
        transport: Transport | None = getattr(self._local, "transport", None)
        if transport is None:
            if self._closed:
                raise BackendUnavailable("Triton backend is closed")
            transport = open_transport(self._target, self.protocol, self.timeout_s)
            self._local.transport = transport
            with self._lock:
                self._transports.append(transport)
        return transport

    def _discard_transport(self) -> None:
        """Drop this thread's client after a connection failure: an HTTP client may hold a
        dead socket, and a gRPC channel in reconnect backoff fails calls without trying. The
        next call opens a fresh connection, so a restarted Triton is used at once."""
        transport: Transport | None = getattr(self._local, "transport", None)
        self._local.transport = None
        if transport is not None:
            with self._lock:
                if transport in self._transports:
                    self._transports.remove(transport)
            try:
                transport.close()
            except Exception:  # closing a broken client must not mask the real error
                logger.debug("closing a failed Triton client", exc_info=True)

    def _with_retries(self, call: Any, deadline: float, what: str) -> Any:
        """``call(transport, remaining_s)`` until it answers, within ``deadline``."""
        attempt = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BackendUnavailable(f"Triton {what} timed out after {self.timeout_s:g} s")
            try:
                return call(self._transport(), remaining)
            except Unreachable as exc:
                self._discard_transport()
                # Triton went away: when it is back it may serve another model; check again.
                self._contract_checked = False
                if attempt >= self.retries or deadline - time.monotonic() <= _RETRY_PAUSE_S:
                    raise BackendUnavailable(
                        f"Triton at {self.url} unreachable ({what}): {exc}"
                    ) from exc
                attempt += 1
                time.sleep(_RETRY_PAUSE_S)
            except Failed as exc:
                raise BackendUnavailable(f"Triton {what} failed: {exc}") from exc

    def _ensure_contract(self, deadline: float) -> None:
        if self._contract_checked:
            return
        metadata = self._with_retries(
            lambda transport, remaining: transport.metadata(min(remaining, READY_TIMEOUT_S)),
            deadline,
            "model metadata",
        )
        try:
            check_metadata(metadata, self._target.spec)
        except ValueError as exc:
            raise BackendUnavailable(f"Triton serves a different model: {exc}") from exc
        max_batch = self._with_retries(
            lambda transport, remaining: transport.max_batch_size(min(remaining, READY_TIMEOUT_S)),
            deadline,
            "model config",
        )
        if max_batch < 1:
            raise BackendUnavailable("Triton's model config has no batch dimension")
        self._max_batch = max_batch
        self._contract_checked = True

    def run(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """uint8 [N, S, S, 3] -> ``spec``'s outputs, float32 [N, ...] (contract shapes: a [N]
        output comes back [N], not Triton's [N, 1]); ``BackendUnavailable`` on failure."""
        spec = self._target.spec
        check_input_batch(images, spec, min_batch=1)
        deadline = time.monotonic() + self.timeout_s
        self._ensure_contract(deadline)
        # Requests larger than the config's max_batch_size are sent in chunks, in order.
        chunks = [
            self._with_retries(
                lambda transport, remaining, part=part: transport.infer(part, remaining),
                deadline,
                "inference",
            )
            for part in _split(np.ascontiguousarray(images), self._max_batch)
        ]
        count = images.shape[0]
        try:
            return {
                name: np.concatenate(
                    [np.asarray(chunk[name], dtype=np.float32) for chunk in chunks]
                ).reshape(count, *shape)
                for name, shape in spec.outputs.items()
            }
        except (KeyError, ValueError) as exc:
            raise BackendUnavailable(
                f"Triton {self._target.model_name} returned malformed outputs: {exc}"
            ) from exc

    def is_ready(self) -> bool:
        """Triton reports ``model_name`` ready (and its metadata matches the contract)."""
        deadline = time.monotonic() + min(self.timeout_s, READY_TIMEOUT_S)
        try:
            self._ensure_contract(deadline)
            return bool(
                self._with_retries(
                    lambda transport, remaining: transport.model_ready(remaining),
                    deadline,
                    "readiness",
                )
            )
        except BackendUnavailable as exc:
            logger.info("Triton not ready: %s", exc.message)
            return False

    def close(self) -> None:
        self._closed = True
        with self._lock:
            transports, self._transports = self._transports, []
        for transport in transports:
            try:
                transport.close()
            except Exception:  # shutting down: report, keep closing the others
                logger.warning("closing a Triton client failed", exc_info=True)
