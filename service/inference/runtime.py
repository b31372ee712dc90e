"""The one runtime layer under every embedded model (attention mesh, face detector, cascade mesh
and iris): an ONNX file in, ``run(images) -> {output name: float32 [N, ...]}`` out.

Two implementations of ``Runtime``:

``OpenVinoRuntime`` (CPU, the default)
    One compiled model per static batch size (``batch_sizes``, by default
    ``Settings.openvino_batch_sizes``: the sizes that run without padding): a call with N
    images runs as consecutive chunks of the largest size that fits (5 -> 4 + 1); a rest
    smaller than every size is zero-padded up to one and the padding rows are dropped.
    Static shapes matter: with a dynamic batch dimension OpenVINO's CPU plugin is much
    slower per crop (figures: ``docs/performance.md``). The precision hint is pinned to f32
    (on CPUs with AVX512-BF16 OpenVINO would otherwise run bf16, which moves landmarks by
    more than a pixel). ``streams`` calls
    can run at once (one OpenVINO stream each, one infer request per call from a per-size
    pool), each on ``threads`` threads.
``OnnxRuntimeRuntime`` (CUDA, and the fallback)
    One ``InferenceSession`` with a dynamic batch; ``threads`` is its intra-op pool size and
    ``spinning`` whether those threads spin between ops. ``device=cuda`` always uses it.

``open_runtime`` picks one from ``RuntimeOptions`` (``Settings.runtime``, ``device``,
``intra_op_threads``, ...) and falls back to ONNX Runtime, with a warning, when OpenVINO is
not installed or cannot compile the model.
"""

from __future__ import annotations

import importlib.metadata
import logging
import queue
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import numpy as np

from service.contract import ModelSpec
from service.core.config import Settings, check_batch_sizes
from service.core.errors import BackendUnavailable
from service.inference.base import checked_outputs

if TYPE_CHECKING:
    import onnxruntime as ort

logger = logging.getLogger(__name__)

RuntimeName = Literal["openvino", "onnxruntime"]

# NumPy dtype name -> ONNX Runtime's input type string.
_ORT_TYPES = {"uint8": "tensor(uint8)", "float32": "tensor(float)"}
_CUDA = "CUDAExecutionProvider"
_CPU = "CPUExecutionProvider"


def _setting(name: str) -> Any:
    """The default of one Settings field (the only place a default lives)."""
    return Settings.model_fields[name].default


@dataclass(frozen=True)
class RuntimeOptions:
    """How to run a model (see the README settings table); the defaults are Settings'.
    Raises ``ValueError`` for batch sizes off ``config.check_batch_sizes``."""

    runtime: RuntimeName = field(default_factory=lambda: _setting("runtime"))
    device: Literal["auto", "cpu", "cuda"] = field(default_factory=lambda: _setting("device"))
    # per call; 0: ONNX Runtime one per core, OpenVINO 1
    threads: int = field(default_factory=lambda: _setting("intra_op_threads"))
    # OpenVINO: calls that can run at once per compiled model
    streams: int = field(default_factory=lambda: _setting("inference_concurrency"))
    spinning: bool = field(default_factory=lambda: _setting("intra_op_spinning"))  # ORT only
    # OpenVINO only: the compiled, padding-free sizes
    batch_sizes: tuple[int, ...] = field(default_factory=lambda: _setting("openvino_batch_sizes"))
    # OpenVINO: compile every batch size at load (else on first use)
    eager: bool = field(default_factory=lambda: _setting("openvino_eager_compile"))

    def __post_init__(self) -> None:
        check_batch_sizes(self.batch_sizes)

    def capped(self, largest: int) -> RuntimeOptions:
        """The same options with only the batch sizes up to ``largest`` (at least the
        smallest): for models that never see large batches, each compiled size costing memory."""
        small = tuple(size for size in self.batch_sizes if size <= largest)
        return replace(self, batch_sizes=small or self.batch_sizes[:1])

    @classmethod
    def from_settings(cls, settings: Settings) -> RuntimeOptions:
        return cls(
            runtime=settings.runtime,
            device=settings.device,
            threads=settings.intra_op_threads,
            spinning=settings.intra_op_spinning,
            streams=settings.inference_concurrency,
            batch_sizes=settings.openvino_batch_sizes,
            eager=settings.openvino_eager_compile,
        )


@runtime_checkable
class Runtime(Protocol):
    """One loaded model. ``run`` is blocking, thread-safe, and raises ``BackendUnavailable``
    when the model cannot run or answers off its ``ModelSpec``."""

    name: str
    spec: ModelSpec
    batch_sizes: tuple[int, ...]  # sizes run without padding; () for any

    def run(self, images: np.ndarray) -> dict[str, np.ndarray]: ...


def _require_file(path: Path, spec: ModelSpec) -> None:
    if not path.is_file():
        raise BackendUnavailable(f"model file {path} not found (build it with `{spec.build_hint}`)")


# --- ONNX Runtime ---------------------------------------------------------------------------


def select_providers(device: str, available: list[str]) -> list[str]:
    """ONNX Runtime execution providers for ``device`` ("auto", "cpu" or "cuda")."""
    if device == "cpu":
        return [_CPU]
    if device == "cuda":
        if _CUDA not in available:
            raise BackendUnavailable(f"device=cuda but onnxruntime offers only {available}")
        return [_CUDA, _CPU]
    return [_CUDA, _CPU] if _CUDA in available else [_CPU]


def load_session(
    model_path: Path, spec: ModelSpec, options: RuntimeOptions
) -> ort.InferenceSession:
    """An ``InferenceSession`` with the service's threading options; any failure to find or
    load the file is ``BackendUnavailable``."""
    import onnxruntime as ort

    _require_file(model_path, spec)
    session_options = ort.SessionOptions()
    session_options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session_options.intra_op_num_threads = options.threads
    session_options.inter_op_num_threads = 1
    session_options.add_session_config_entry(
        "session.intra_op.allow_spinning", "1" if options.spinning else "0"
    )
    session_options.log_severity_level = 3
    providers = select_providers(options.device, ort.get_available_providers())
    try:
        return ort.InferenceSession(str(model_path), session_options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own unrelated exception types
        raise BackendUnavailable(f"cannot load {model_path}: {exc}") from exc


class OnnxRuntimeRuntime:
    """``Runtime`` on one ONNX Runtime session (dynamic batch; sessions are thread-safe)."""

    name = "onnxruntime"
    batch_sizes: tuple[int, ...] = ()

    def __init__(self, model_path: Path, spec: ModelSpec, options: RuntimeOptions) -> None:
        self.spec = spec
        self._session = load_session(model_path, spec, options)
        inputs = {i.name: i.type for i in self._session.get_inputs()}
        if inputs.get(spec.input_name) != _ORT_TYPES[spec.input_dtype]:
            raise BackendUnavailable(
                f"{model_path} has no {spec.input_dtype} input {spec.input_name!r}"
            )
        missing = set(spec.outputs) - {o.name for o in self._session.get_outputs()}
        if missing:
            raise BackendUnavailable(f"{model_path} lacks outputs {sorted(missing)}")
        self._names = list(spec.outputs)
        self.providers: list[str] = list(self._session.get_providers())

    def run(self, images: np.ndarray) -> dict[str, np.ndarray]:
        try:
            arrays = self._session.run(self._names, {self.spec.input_name: images})
        except Exception as exc:
            raise BackendUnavailable(f"onnxruntime ({self.spec.label}) failed: {exc}") from exc
        named = dict(zip(self._names, arrays, strict=True))
        return checked_outputs(named, self.spec.outputs, len(images), self.spec.label)


# --- OpenVINO -------------------------------------------------------------------------------


def plan_chunks(count: int, batch_sizes: tuple[int, ...]) -> list[int]:
    """Consecutive chunk sizes for ``count`` rows: the largest batch size that fits, again and
    again, so nothing is padded while a size fits the rest (5 -> 4 + 1 with 1, 4, 8); a rest
    smaller than every size is one last chunk, padded. OpenVINO's CPU time per face falls
    only a little with the batch size, so computing padding rows costs more than an extra
    call (figures: ``docs/performance.md``)."""
    chunks: list[int] = []
    left = count
    while left > 0:
        fitting = [size for size in batch_sizes if size <= left]
        chunk = fitting[-1] if fitting else left
        chunks.append(chunk)
        left -= chunk
    return chunks or [0]


def padded_size(count: int, batch_sizes: tuple[int, ...]) -> int:
    """The smallest batch size holding ``count`` rows (the largest one when none does)."""
    for size in batch_sizes:
        if size >= count:
            return size
    return batch_sizes[-1]


class _Compiled:
    """One static-batch compiled model and its idle infer requests (one per concurrent call)."""

    def __init__(self, compiled: Any) -> None:
        self.compiled = compiled
        self._idle: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def run(self, batch: np.ndarray, input_name: str, names: list[str]) -> dict[str, np.ndarray]:
        try:
            request = self._idle.get_nowait()
        except queue.Empty:
            request = self.compiled.create_infer_request()
        try:
            # share_outputs=False copies the outputs, so the request can be reused at once.
            result = request.infer({input_name: batch}, share_inputs=True, share_outputs=False)
            return {name: result[name] for name in names}
        finally:
            self._idle.put(request)


class OpenVinoRuntime:
    """``Runtime`` on OpenVINO's CPU plugin: one compiled model per static batch size."""

    name = "openvino"

    def __init__(self, model_path: Path, spec: ModelSpec, options: RuntimeOptions) -> None:
        import openvino as ov

        _require_file(model_path, spec)
        self.spec = spec
        self.batch_sizes = options.batch_sizes
        self._path = model_path
        self._core = ov.Core()
        # One stream per call that may run at once (a stream runs one request at a time);
        # INFERENCE_NUM_THREADS is the total over the streams.
        self._config: dict[str, Any] = {
            "INFERENCE_PRECISION_HINT": "f32",
            "NUM_STREAMS": options.streams,
        }
        # threads=0: one thread per call, OpenVINO's cheapest CPU per image (more calls at once,
        # not more threads per call, use more cores: Settings.inference_concurrency).
        self._config["INFERENCE_NUM_THREADS"] = (options.threads or 1) * options.streams
        try:
            self._model = self._core.read_model(str(model_path))
        except Exception as exc:
            raise BackendUnavailable(f"openvino cannot read {model_path}: {exc}") from exc
        self._check_signature()
        self._names = list(spec.outputs)
        self._compiled: dict[int, _Compiled] = {}
        self._lock = threading.Lock()
        if options.eager:
            for size in self.batch_sizes:
                self._compiled_for(size)

    def _check_signature(self) -> None:
        import openvino as ov

        inputs = {port.get_any_name(): port for port in self._model.inputs}
        port = inputs.get(self.spec.input_name)
        dtype = {"uint8": ov.Type.u8, "float32": ov.Type.f32}[self.spec.input_dtype]
        if port is None or port.get_element_type() != dtype:
            raise BackendUnavailable(
                f"{self._path} has no {self.spec.input_dtype} input {self.spec.input_name!r}"
            )
        names = {name for port in self._model.outputs for name in port.get_names()}
        missing = set(self.spec.outputs) - names
        if missing:
            raise BackendUnavailable(f"{self._path} lacks outputs {sorted(missing)}")

    def _compiled_for(self, size: int) -> _Compiled:
        compiled_model = self._compiled.get(size)
        if compiled_model is not None:
            return compiled_model
        with self._lock:
            compiled_model = self._compiled.get(size)
            if compiled_model is None:
                model = self._model.clone()
                model.reshape({self.spec.input_name: [size, *self.spec.input_shape]})
                try:
                    compiled = self._core.compile_model(model, "CPU", self._config)
                except Exception as exc:
                    raise BackendUnavailable(
                        f"openvino cannot compile {self._path} for batch {size}: {exc}"
                    ) from exc
                compiled_model = self._compiled[size] = _Compiled(compiled)
        return compiled_model

    @property
    def compiled_batch_sizes(self) -> tuple[int, ...]:
        return tuple(sorted(self._compiled))

    def run(self, images: np.ndarray) -> dict[str, np.ndarray]:
        chunks = plan_chunks(len(images), self.batch_sizes)
        if len(chunks) > 1:
            parts, start = [], 0
            for chunk in chunks:
                parts.append(self._run_compiled(images[start : start + chunk]))
                start += chunk
            return {name: np.concatenate([part[name] for part in parts]) for name in self._names}
        return self._run_compiled(images)

    def _run_compiled(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """The compiled model of the smallest size holding ``images``, on them zero-padded up to
        it, padding rows dropped."""
        count = len(images)
        size = padded_size(count, self.batch_sizes)
        batch = np.ascontiguousarray(images)
        if size > count:
            batch = np.concatenate([batch, np.zeros((size - count, *batch.shape[1:]), batch.dtype)])
        try:
            named = self._compiled_for(size).run(batch, self.spec.input_name, self._names)
        except BackendUnavailable:
            raise
        except Exception as exc:
            raise BackendUnavailable(f"openvino ({self.spec.label}) failed: {exc}") from exc
        arrays = checked_outputs(named, self.spec.outputs, size, self.spec.label)
        return {name: array[:count] for name, array in arrays.items()}


# --- selection ------------------------------------------------------------------------------


def _cuda_available() -> bool:
    """ONNX Runtime offers CUDA. Only the ``onnxruntime-gpu`` package can; without it the
    answer is no, found without importing ONNX Runtime (whose import costs RSS when it would
    otherwise not be used at all)."""
    try:
        importlib.metadata.distribution("onnxruntime-gpu")
    except importlib.metadata.PackageNotFoundError:
        return False
    import onnxruntime as ort

    return _CUDA in ort.get_available_providers()


def open_runtime(model_path: Path, spec: ModelSpec, options: RuntimeOptions) -> Runtime:
    """The runtime ``options`` ask for. ``device=cuda`` (or ``auto`` with a CUDA-enabled
    ONNX Runtime) always runs ONNX Runtime; OpenVINO falls back to ONNX Runtime, with a
    warning, when it is missing or fails to load the model."""
    wants_openvino = options.runtime == "openvino" and (
        options.device == "cpu" or (options.device == "auto" and not _cuda_available())
    )
    if wants_openvino:
        _require_file(model_path, spec)
        try:
            return OpenVinoRuntime(model_path, spec, options)
        except ImportError as exc:
            logger.warning("openvino not installed (%s): using onnxruntime", exc)
        except BackendUnavailable as exc:
            logger.warning("openvino failed on %s (%s): using onnxruntime", spec.label, exc)
    return OnnxRuntimeRuntime(model_path, spec, options)
