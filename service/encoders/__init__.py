"""Pipeline results -> the wire: JSON bodies (HTTP and WebSocket, ``json_body``) and protobuf
messages (gRPC, ``protobuf``), both rounded by the one rule in ``rounding``. Formatting only:
what a result holds is computed in ``service.pipelines``."""
