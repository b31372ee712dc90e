"""Op handlers, one module per op family. Importing this package registers them all."""

from converter.handlers import (  # noqa: F401
    activation,
    conv,
    elementwise,
    mediapipe,
    pooling,
    quantize,
    reduce,
    shape,
    unary,
    upsample,
)
