"""Video tracking sessions: per-stream state for ``service.pipelines.frames`` (gRPC and WebSocket).

sessions:   bounded, expiring, isolated ``TrackingSession`` store
tracker:    one frame of one session (shared by both streams)
grpc_server: the bidirectional ``FaceTracking.Track`` stream
"""
