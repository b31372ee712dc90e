"""The Triton backend: the same model served by a Triton Inference Server, called over gRPC/HTTP.

Transport
    gRPC (default) or HTTP/REST (``Settings.triton_protocol``), tensors as raw binary in both
    (gRPC ``raw_input_contents``; HTTP binary-data extension), never JSON lists.
Connection reuse
    One client per calling thread, kept while its connection works: Triton's Python clients are
    not thread-safe, and the pipeline calls ``infer`` from a small fixed thread pool. Each gRPC
    client keeps one HTTP/2 channel open; each HTTP client a keep-alive connection. A client
    whose connection failed is replaced on that thread's next call.
Timeouts
    Every call has a deadline (``timeout_s`` for inference, at most ``READY_TIMEOUT_S`` for
    readiness), so a hung Triton costs a request its timeout, never a hang.
Retries
    Only where safe: a connection-level failure (refused, reset, gRPC ``UNAVAILABLE``) is
    retried up to ``retries`` times inside the same deadline. Inference is a pure function, so a
    repeat cannot change any state. Timeouts are not retried (the request may still be running
    in Triton; a retry would double the load exactly when Triton is slow), nor are errors Triton
    answered with (a retry would get the same answer).
Failures
    Anything that stops a call raises ``BackendUnavailable`` (the gateway answers 503 with
    ``Retry-After``). Nothing is cached across failures: a client whose connection failed is
    replaced (and a gRPC channel's own reconnect backoff is capped at
    ``MAX_RECONNECT_BACKOFF_MS``), so the gateway recovers when Triton returns, without a
    restart.
Readiness
    ``is_ready`` is Triton's own model readiness for ``model_name``/``model_version``. The first
    time Triton answers, the model's metadata is checked once against the model contract
    (``service.inference.base``), so a wrongly deployed model fails readiness loudly.
"""

from __future__ import annotations

import http.client
import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from service.contract import ATTENTION_SPEC, ModelOutputs, ModelSpec
from service.core.errors import BackendUnavailable
from service.inference.base import check_image_batch, checked_outputs

if TYPE_CHECKING:
    from service.core.config import Settings

logger = logging.getLogger(__name__)

TritonProtocol = Literal["grpc", "http"]

READY_TIMEOUT_S = 2.0
MAX_RECONNECT_BACKOFF_MS = 1000
_MAX_GRPC_MESSAGE_BYTES = 2**31 - 1
_RETRY_PAUSE_S = 0.05

# gRPC status codes (as tritonclient renders them) that mean "Triton not reachable".
_GRPC_UNREACHABLE = {"StatusCode.UNAVAILABLE"}
_GRPC_TIMEOUT = {"StatusCode.DEADLINE_EXCEEDED"}


class _Unreachable(Exception):  # noqa: N818
    """The call did not get an answer from Triton because the connection failed (retryable)."""


class _Failed(Exception):  # noqa: N818
    """Triton timed out or answered with an error (not retried)."""


class _Transport(Protocol):
    """One protocol's client, used from a single thread."""

    def infer(self, images: np.ndarray, timeout_s: float) -> dict[str, np.ndarray]: ...

    def model_ready(self, timeout_s: float) -> bool: ...

    def metadata(self, timeout_s: float) -> dict[str, Any]: ...

    def max_batch_size(self, timeout_s: float) -> int: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class _Target:
    url: str
    model_name: str
    model_version: str
    spec: ModelSpec


class _GrpcTransport:
    def __init__(self, target: _Target) -> None:
        import tritonclient.grpc as grpcclient

        self._grpc = grpcclient
        self._target = target
        self._client = grpcclient.InferenceServerClient(
            target.url,
            channel_args=[
                ("grpc.max_send_message_length", _MAX_GRPC_MESSAGE_BYTES),
                ("grpc.max_receive_message_length", _MAX_GRPC_MESSAGE_BYTES),
                # Reconnect quickly once Triton is back (gRPC's default backoff grows to 120 s).
                ("grpc.initial_reconnect_backoff_ms", 100),
                ("grpc.min_reconnect_backoff_ms", 100),
                ("grpc.max_reconnect_backoff_ms", MAX_RECONNECT_BACKOFF_MS),
            ],
        )
        self._outputs = [grpcclient.InferRequestedOutput(name) for name in target.spec.outputs]

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        from tritonclient.utils import InferenceServerException

        try:
            return fn(*args, **kwargs)
        except InferenceServerException as exc:
            status = str(exc.status())
            if status in _GRPC_UNREACHABLE:
                raise _Unreachable(f"{status}: {exc.message()}") from exc
            if status in _GRPC_TIMEOUT:
                raise _Failed("timed out") from exc
            raise _Failed(f"{status}: {exc.message()}") from exc
        except Exception as exc:  # any other client-library failure is still "no answer"
            raise _Failed(f"{type(exc).__name__}: {exc}") from exc

    def infer(self, images: np.ndarray, timeout_s: float) -> dict[str, np.ndarray]:
        spec = self._target.spec
        image = self._grpc.InferInput(spec.input_name, list(images.shape), "UINT8")
        image.set_data_from_numpy(images)
        result = self._call(
            self._client.infer,
            self._target.model_name,
            [image],
            model_version=self._target.model_version,
            outputs=self._outputs,
            client_timeout=timeout_s,
        )
        return {name: result.as_numpy(name) for name in spec.outputs}

    def model_ready(self, timeout_s: float) -> bool:
        return bool(
            self._call(
                self._client.is_model_ready,
                self._target.model_name,
                self._target.model_version,
                client_timeout=timeout_s,
            )
        )

    def metadata(self, timeout_s: float) -> dict[str, Any]:
        answer: dict[str, Any] = self._call(
            self._client.get_model_metadata,
            self._target.model_name,
            self._target.model_version,
            as_json=True,
            client_timeout=timeout_s,
        )
        return answer

    def max_batch_size(self, timeout_s: float) -> int:
        answer = self._call(
            self._client.get_model_config,
            self._target.model_name,
            self._target.model_version,
            as_json=True,
            client_timeout=timeout_s,
        )
        return int(answer["config"].get("max_batch_size", 0))

    def close(self) -> None:
        self._client.close()


class _HttpTransport:
    """HTTP/REST with the binary tensor extension. Client timeouts are fixed per client."""

    def __init__(self, target: _Target, timeout_s: float) -> None:
        import tritonclient.http as httpclient

        self._http = httpclient
        self._target = target
        self._client = httpclient.InferenceServerClient(
            target.url,
            connection_timeout=min(timeout_s, READY_TIMEOUT_S),
            network_timeout=timeout_s,
        )
        self._outputs = [
            httpclient.InferRequestedOutput(name, binary_data=True) for name in target.spec.outputs
        ]

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        from tritonclient.utils import InferenceServerException

        try:
            return fn(*args, **kwargs)
        except InferenceServerException as exc:
            raise _Failed(f"HTTP {exc.status()}: {exc.message()}") from exc
        except TimeoutError as exc:  # socket.timeout: Triton accepted but did not answer
            raise _Failed("timed out") from exc
        except (OSError, http.client.HTTPException) as exc:
            # refused, reset, broken pipe, name resolution; or the connection closed before a
            # response (geventhttpclient's HTTPConnectionClosed): Triton went away.
            raise _Unreachable(f"{type(exc).__name__}: {exc}") from exc
        except Exception as exc:  # any other client-library failure is still "no answer"
            raise _Failed(f"{type(exc).__name__}: {exc}") from exc

    def infer(self, images: np.ndarray, timeout_s: float) -> dict[str, np.ndarray]:
        spec = self._target.spec
        image = self._http.InferInput(spec.input_name, list(images.shape), "UINT8")
        image.set_data_from_numpy(images, binary_data=True)
        result = self._call(
            self._client.infer,
            self._target.model_name,
            [image],
            model_version=self._target.model_version,
            outputs=self._outputs,
        )
        return {name: result.as_numpy(name) for name in spec.outputs}

    def model_ready(self, timeout_s: float) -> bool:
        return bool(
            self._call(
                self._client.is_model_ready, self._target.model_name, self._target.model_version
            )
        )

    def metadata(self, timeout_s: float) -> dict[str, Any]:
        answer: dict[str, Any] = self._call(
            self._client.get_model_metadata, self._target.model_name, self._target.model_version
        )
        return answer

    def max_batch_size(self, timeout_s: float) -> int:
        answer = self._call(
            self._client.get_model_config, self._target.model_name, self._target.model_version
        )
        return int(answer.get("max_batch_size", 0))

    def close(self) -> None:
        self._client.close()


def check_metadata(metadata: dict[str, Any], spec: ModelSpec = ATTENTION_SPEC) -> None:
    """Raise ``ValueError`` unless Triton's model metadata matches ``spec`` (the model contract).

    Triton reports shapes with the batch dimension as -1; an output that is [N] in the
    contract (``face_score``) is [N, 1] in Triton (its config reshapes it, Triton needs a
    non-batch dim).
    """
    inputs = {tensor["name"]: tensor for tensor in metadata.get("inputs", [])}
    image = inputs.get(spec.input_name)
    want_image = [-1, spec.input_size, spec.input_size, 3]
    if image is None or image["datatype"] != "UINT8" or _dims(image) != want_image:
        raise ValueError(f"Triton input {spec.input_name!r} is {image}, want UINT8 {want_image}")
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
    """One model on a Triton server: per-thread clients, deadlines, retries and error mapping
    (module docstring), checked once against ``spec``. ``run`` is the raw call; the mesh
    backend and the face detector are thin shapes on top of it."""

    name = "triton"

    def __init__(
        self,
        url: str,
        *,
        spec: ModelSpec,
        protocol: TritonProtocol = "grpc",
        model_name: str = "facemesh",
        model_version: str = "",
        timeout_s: float = 10.0,
        retries: int = 1,
    ) -> None:
        if protocol not in ("grpc", "http"):
            raise ValueError(f"protocol must be 'grpc' or 'http', not {protocol!r}")
        if timeout_s <= 0 or retries < 0:
            raise ValueError("timeout_s must be > 0 and retries >= 0")
        self.protocol: TritonProtocol = protocol
        self.timeout_s = timeout_s
        self.retries = retries
        self._target = _Target(url, model_name, model_version, spec)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._transports: list[_Transport] = []
        self._contract_checked = False
        self._max_batch = 0
        self._closed = False

    @property
    def url(self) -> str:
        return self._target.url

    def _transport(self) -> _Transport:
        transport: _Transport | None = getattr(self._local, "transport", None)
        if transport is None:
            if self._closed:
                raise BackendUnavailable("Triton backend is closed")
            transport = (
                _GrpcTransport(self._target)
                if self.protocol == "grpc"
                else _HttpTransport(self._target, self.timeout_s)
            )
            self._local.transport = transport
            with self._lock:
                self._transports.append(transport)
        return transport

    def _discard_transport(self) -> None:
        """Drop this thread's client after a connection failure: an HTTP client may hold a
        dead socket, and a gRPC channel in reconnect backoff fails calls without trying. The
        next call opens a fresh connection, so a restarted Triton is used at once."""
        transport: _Transport | None = getattr(self._local, "transport", None)
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
        attempt = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BackendUnavailable(f"Triton {what} timed out after {self.timeout_s:g} s")
            try:
                return call(self._transport(), remaining)
            except _Unreachable as exc:
                self._discard_transport()
                # Triton went away: when it is back it may serve another model; check again.
                self._contract_checked = False
                if attempt >= self.retries or deadline - time.monotonic() <= _RETRY_PAUSE_S:
                    raise BackendUnavailable(
                        f"Triton at {self.url} unreachable ({what}): {exc}"
                    ) from exc
                attempt += 1
                time.sleep(_RETRY_PAUSE_S)
            except _Failed as exc:
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
        check_image_batch(images, spec.input_size, min_batch=1)
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
            named = {
                name: np.concatenate(
                    [np.asarray(chunk[name], dtype=np.float32) for chunk in chunks]
                ).reshape(count, *shape)
                for name, shape in spec.outputs.items()
            }
        except (KeyError, ValueError) as exc:
            raise BackendUnavailable(f"Triton returned malformed outputs: {exc}") from exc
        return checked_outputs(named, spec.outputs, count, f"Triton {self._target.model_name}")

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


class TritonBackend(TritonModel):
    """``InferenceBackend`` that forwards crops to Triton's ``model_name`` model."""

    def __init__(
        self,
        url: str,
        *,
        protocol: TritonProtocol = "grpc",
        model_name: str = "facemesh",
        model_version: str = "",
        timeout_s: float = 10.0,
        retries: int = 1,
    ) -> None:
        super().__init__(
            url,
            spec=ATTENTION_SPEC,
            protocol=protocol,
            model_name=model_name,
            model_version=model_version,
            timeout_s=timeout_s,
            retries=retries,
        )

    def infer(self, images: np.ndarray) -> ModelOutputs:
        """uint8 [N, 192, 192, 3] RGB -> ``ModelOutputs``; ``BackendUnavailable`` on failure."""
        check_image_batch(images, min_batch=1)
        try:
            return ModelOutputs.from_named(self.run(images))
        except ValueError as exc:
            raise BackendUnavailable(f"Triton returned malformed outputs: {exc}") from exc


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
