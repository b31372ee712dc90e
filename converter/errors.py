"""Typed converter errors."""


class ConversionError(Exception):
    """The model cannot be converted faithfully."""


class UnsupportedOpError(ConversionError):
    """No handler is registered for a TFLite op (builtin name or custom code + version)."""

    def __init__(self, op_name: str, detail: str = "") -> None:
        self.op_name = op_name
        message = f"unsupported TFLite op {op_name!r}"
        super().__init__(f"{message}: {detail}" if detail else message)


class SourceIntegrityError(ConversionError):
    """A downloaded source file does not have the expected sha256."""
