"""``python -m service``: serve the gateway with uvicorn, honouring ``Settings``."""

from __future__ import annotations

import logging
import os
import sys
import tempfile

import uvicorn

from service.api.http_protocol import GuardedHttpToolsProtocol
from service.api.websocket_protocol import GuardedWebSocketProtocol
from service.core.config import get_settings
from service.core.logging import configure_logging
from service.core.memory import limit_malloc_arenas


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    limit_malloc_arenas(settings.malloc_arena_max)
    common = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        # Logging is ours (text or JSON, with request IDs); the access log is written by
        # service.api.request_id, so uvicorn's own is off.
        "log_config": None,
        "access_log": False,
        # SIGTERM: stop accepting, finish in-flight requests (at most this long), then exit.
        "timeout_graceful_shutdown": settings.shutdown_timeout_s,
        # Slow and hostile clients: header size/count limits (431) and a header timeout
        # (service.api.http_protocol); idle keep-alive connections close; a WebSocket
        # message (one tracking frame) is held to the body limit (larger: close 1009).
        "http": GuardedHttpToolsProtocol,
        # WebSocket handshakes the library refuses get the JSON error body; a text frame
        # that is not UTF-8 is closed (1007) with one INFO line (service.api.websocket_protocol).
        "ws": GuardedWebSocketProtocol,
        "timeout_keep_alive": settings.keep_alive_timeout_s,
        "ws_max_size": settings.max_body_bytes,
    }
    if settings.workers == 1:
        from service.main import create_app

        uvicorn.run(create_app(settings), **common)  # type: ignore[arg-type]
        return
    if settings.grpc_enabled:
        # The workers share the gRPC port (SO_REUSEPORT), so none of them would notice
        # another gateway on it: checked once here, as uvicorn checks the HTTP port.
        from service.tracking.grpc_server import GrpcPortInUseError, check_grpc_port_free

        try:
            check_grpc_port_free(settings)
        except GrpcPortInUseError as exc:
            logging.getLogger("service").error("%s", exc)
            sys.exit(1)
    if settings.malloc_arena_max:
        # Spawned workers are new processes: glibc reads this when each one starts.
        os.environ["MALLOC_ARENA_MAX"] = str(settings.malloc_arena_max)
    if settings.prometheus_multiproc_dir is None:
        # Workers are spawned processes: they inherit this and prometheus_client (and their
        # Settings) pick it up at import, so /metrics aggregates every worker.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="facemesh-metrics-")
    uvicorn.run(
        "service.main:create_app",
        factory=True,
        workers=settings.workers,
        **common,  # type: ignore[arg-type]
    )


if __name__ == "__main__":
    main()
