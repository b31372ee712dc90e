"""Video tracking sessions: per-stream state for ``service.frames`` (gRPC and WebSocket).

sessions:   bounded, expiring, isolated ``TrackingSession`` store
lifecycle:  builds the frame pipeline, the session store and the gRPC server with the app
grpc_server: the bidirectional ``FaceTracking.Track`` stream
"""
