"""The two ways to talk to a Triton server, behind one ``Transport`` interface.

``GrpcTransport`` (default) and ``HttpTransport`` (HTTP/REST) send tensors as raw binary
(gRPC ``raw_input_contents``; HTTP's binary-data extension), never JSON lists. A transport is
one tritonclient client, used from one thread (Triton's Python clients are not thread-safe):
each gRPC client keeps one HTTP/2 channel open, each HTTP client a keep-alive connection.

Every call takes its own ``timeout_s``, which bounds it: gRPC passes it as the call's
deadline (``client_timeout``); HTTP runs the call under a ``gevent.Timeout`` of that length
(tritonclient's HTTP client is geventhttpclient: its own socket timeouts are fixed when the
client is made, so a readiness probe would otherwise wait as long as an inference).

A transport raises ``Unreachable`` when the connection failed before Triton answered
(refused, reset, gRPC ``UNAVAILABLE``: safe to retry) and ``Failed`` when Triton timed out or
answered with an error (not retried). The retries and deadlines around these calls live in
``service.inference.triton_model``.
"""

from __future__ import annotations

import http.client
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from service.contract import ModelSpec

# The longest a gRPC channel waits between reconnect attempts (gRPC's default grows to 120 s).
MAX_RECONNECT_BACKOFF_MS = 1000
_MAX_GRPC_MESSAGE_BYTES = 2**31 - 1

# gRPC status codes (as tritonclient renders them) that mean "Triton not reachable".
_GRPC_UNREACHABLE = {"StatusCode.UNAVAILABLE"}
_GRPC_TIMEOUT = {"StatusCode.DEADLINE_EXCEEDED"}


class Unreachable(Exception):  # noqa: N818
    """The call did not get an answer from Triton because the connection failed (retryable)."""


class Failed(Exception):  # noqa: N818
    """Triton timed out or answered with an error (not retried)."""


@dataclass(frozen=True)
class TritonTarget:
    """One model on one server: where it is, which version, and its contract."""

    url: str
    model_name: str
    model_version: str
    spec: ModelSpec


class Transport(Protocol):
    """One protocol's client, used from a single thread; every call is bounded by its
    ``timeout_s``."""

    def infer(self, images: np.ndarray, timeout_s: float) -> dict[str, np.ndarray]: ...

    def model_ready(self, timeout_s: float) -> bool: ...

    def metadata(self, timeout_s: float) -> dict[str, Any]: ...

    def max_batch_size(self, timeout_s: float) -> int: ...

    def close(self) -> None: ...


def open_transport(target: TritonTarget, protocol: str, timeout_s: float) -> Transport:
    """A new client for ``protocol`` (``grpc`` or ``http``); ``timeout_s`` is the longest
    any call may take (the HTTP client's socket timeout, a backstop under the per-call one)."""
    if protocol == "grpc":
        return GrpcTransport(target)
    return HttpTransport(target, timeout_s)


class GrpcTransport:
    def __init__(self, target: TritonTarget) -> None:
        import tritonclient.grpc as grpcclient

        self._grpc = grpcclient
        self._target = target
        self._client = grpcclient.InferenceServerClient(
            target.url,
            channel_args=[
                ("grpc.max_send_message_length", _MAX_GRPC_MESSAGE_BYTES),
                ("grpc.max_receive_message_length", _MAX_GRPC_MESSAGE_BYTES),
                # Reconnect quickly once Triton is back.
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
                raise Unreachable(f"{status}: {exc.message()}") from exc
            if status in _GRPC_TIMEOUT:
                raise Failed(f"timed out after {kwargs['client_timeout']:g} s") from exc
            raise Failed(f"{status}: {exc.message()}") from exc
        except Exception as exc:  # any other client-library failure is still "no answer"
            raise Failed(f"{type(exc).__name__}: {exc}") from exc

    def infer(self, images: np.ndarray, timeout_s: float) -> dict[str, np.ndarray]:
        spec = self._target.spec
        image = self._grpc.InferInput(spec.input_name, list(images.shape), spec.triton_dtype)
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


class _CallTimedOut(Exception):  # noqa: N818
    """Raised in the calling greenlet by the per-call ``gevent.Timeout``."""


class HttpTransport:
    """HTTP/REST with the binary tensor extension. Each call runs under its own timeout; a
    call that timed out leaves its connection mid-response, so the client is replaced."""

    def __init__(self, target: TritonTarget, timeout_s: float) -> None:
        import tritonclient.http as httpclient

        self._http = httpclient
        self._target = target
        self._timeout_s = timeout_s
        self._client = self._open()
        self._outputs = [
            httpclient.InferRequestedOutput(name, binary_data=True) for name in target.spec.outputs
        ]

    def _open(self) -> Any:
        # Socket timeouts: a backstop at the longest call; each call's own bound is below.
        return self._http.InferenceServerClient(
            self._target.url,
            connection_timeout=self._timeout_s,
            network_timeout=self._timeout_s,
        )

    def _call(self, timeout_s: float, fn: Any) -> Any:
        import gevent
        from tritonclient.utils import InferenceServerException

        try:
            with gevent.Timeout(timeout_s, _CallTimedOut()):
                return fn()
        except _CallTimedOut as exc:
            self._client.close()
            self._client = self._open()
            raise Failed(f"timed out after {timeout_s:g} s") from exc
        except InferenceServerException as exc:
            raise Failed(f"HTTP {exc.status()}: {exc.message()}") from exc
        except TimeoutError as exc:  # socket.timeout: Triton accepted but did not answer
            raise Failed(f"timed out after {self._timeout_s:g} s (socket)") from exc
        except (OSError, http.client.HTTPException) as exc:
            # refused, reset, broken pipe, name resolution; or the connection closed before a
            # response (geventhttpclient's HTTPConnectionClosed): Triton went away.
            raise Unreachable(f"{type(exc).__name__}: {exc}") from exc
        except Exception as exc:  # any other client-library failure is still "no answer"
            raise Failed(f"{type(exc).__name__}: {exc}") from exc

    def infer(self, images: np.ndarray, timeout_s: float) -> dict[str, np.ndarray]:
        spec = self._target.spec
        image = self._http.InferInput(spec.input_name, list(images.shape), spec.triton_dtype)
        image.set_data_from_numpy(images, binary_data=True)
        target = self._target
        result = self._call(
            timeout_s,
            lambda: self._client.infer(
                target.model_name,
                [image],
                model_version=target.model_version,
                outputs=self._outputs,
            ),
        )
        return {name: result.as_numpy(name) for name in spec.outputs}

    def model_ready(self, timeout_s: float) -> bool:
        target = self._target
        return bool(
            self._call(
                timeout_s,
                lambda: self._client.is_model_ready(target.model_name, target.model_version),
            )
        )

    def metadata(self, timeout_s: float) -> dict[str, Any]:
        target = self._target
        answer: dict[str, Any] = self._call(
            timeout_s,
            lambda: self._client.get_model_metadata(target.model_name, target.model_version),
        )
        return answer

    def max_batch_size(self, timeout_s: float) -> int:
        target = self._target
        answer = self._call(
            timeout_s,
            lambda: self._client.get_model_config(target.model_name, target.model_version),
        )
        return int(answer.get("max_batch_size", 0))

    def close(self) -> None:
        self._client.close()
