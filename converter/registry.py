"""The handler registry: one small handler per TFLite op, registered by decorator.

A handler receives the conversion context and the TFLite operator and emits ONNX nodes.
Builtin ops are keyed by name (``"CONV_2D"``); MediaPipe custom ops by
``"CUSTOM:<custom_code>:v<version>"`` so an unexpected version fails loudly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from converter.errors import UnsupportedOpError

if TYPE_CHECKING:
    from converter.context import ConversionContext
    from converter.tflite_model import Operator

Handler = Callable[["ConversionContext", "Operator"], None]

_HANDLERS: dict[str, Handler] = {}


def register(*keys: str) -> Callable[[Handler], Handler]:
    """Register ``handler`` for one or more op keys; duplicates are a programming error."""

    def decorate(handler: Handler) -> Handler:
        for key in keys:
            if key in _HANDLERS:
                raise RuntimeError(f"handler for {key!r} registered twice")
            _HANDLERS[key] = handler
        return handler

    return decorate


def lookup(op: Operator) -> Handler:
    """The handler for ``op``; raises UnsupportedOpError naming the op if there is none."""
    handler = _HANDLERS.get(op.key)
    if handler is None:
        raise UnsupportedOpError(op.key, f"op #{op.index} has no registered handler")
    return handler


def registered_ops() -> list[str]:
    return sorted(_HANDLERS)
