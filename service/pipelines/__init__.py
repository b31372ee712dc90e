"""Request orchestration: decode -> preprocess -> model calls -> postprocess, per endpoint kind.

``crops`` serves face crops (``/v1/crop``, ``/v1/crops``); ``frames`` serves whole frames and
tracking sessions (``/v1/frame``, ``/v1/track``, gRPC ``Track``). Both are built once in the
app's lifespan (``service.lifespan``) and share the inference backends.
"""
