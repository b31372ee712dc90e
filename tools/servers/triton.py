"""Start and stop a real ``tritonserver`` (from the ``nvidia-pytriton`` wheel) on free local ports.

The wheel ships the server binary and its Python backend but not the onnxruntime backend, so
the local repository serves ``triton_python_model/model.py``, which runs the same
``model.onnx`` with ONNX Runtime inside Triton. Its ``config.pbtxt`` is derived from the
production one (``model_repository/facemesh/config.pbtxt``): same name, tensors, dtypes,
dims, batch size and dynamic batching; only the backend and the instance kind (CPU) change.
The face detector (``face_detector``) is served the same way when its ``model.onnx`` has been built.

Used by the Triton tests' fixtures, the benchmarks and the load-test runner.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from tools.servers.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_CONFIG = ROOT / "model_repository" / "facemesh" / "config.pbtxt"
MODEL_ONNX = ROOT / "model_repository" / "facemesh" / "1" / "model.onnx"
TRITON_VENV = ROOT / ".venv-triton"
PYTHON_MODEL = Path(__file__).resolve().parent / "triton_python_model" / "model.py"
MODEL_NAME = "facemesh"
# Also served when its model.onnx has been built: the gateway's detector for /v1/frame.
DETECTOR_NAME = "face_detector"
REPOSITORY = ROOT / "model_repository"


# FaceLandmarker's landmark and blendshape models (the landmarker pipeline, blendshapes).
FACELANDMARKER_NAMES: tuple[str, ...] = ("face_landmarker", "face_blendshapes")


class LocalTritonUnavailableError(RuntimeError):
    """The local tritonserver cannot run on this machine (wheel or libpython missing)."""


def triton_site_packages(venv: Path = TRITON_VENV) -> Path:
    """site-packages of the virtualenv holding ``nvidia-pytriton`` (``make triton-venv``).

    It is separate from the gateway's: the wheel needs numpy < 2 (its Python backend stub reads
    numpy 1.x's array layout; under numpy 2 every output tensor arrives empty). The stub embeds
    the base interpreter's ``libpython``, so that virtualenv must be built from the same Python
    as the one running this code.
    """
    cfg = venv / "pyvenv.cfg"
    if not cfg.exists():
        raise LocalTritonUnavailableError(f"no {venv} (run `make triton-venv`)")
    values = dict(
        (key.strip(), value.strip())
        for key, _, value in (line.partition("=") for line in cfg.read_text().splitlines())
    )
    version = values.get("version_info") or values.get("version", "")
    if version.split(".")[:3] != [str(part) for part in sys.version_info[:3]]:
        raise LocalTritonUnavailableError(
            f"{venv} was built with Python {version}, this is {platform.python_version()}"
        )
    site = (
        venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    )
    if not (site / "pytriton" / "tritonserver" / "bin" / "tritonserver").exists():
        raise LocalTritonUnavailableError(f"nvidia-pytriton is not installed in {venv}")
    return site


def python_libdir() -> Path:
    """The running interpreter's own ``libpython`` folder.

    The Python backend stub links ``libpython3.x.so``; if the loader picks the system's copy
    while the stub imports this interpreter's stdlib (a different patch release), the stub dies
    with ``'_thread.RLock' object has no attribute '_recursion_count'``.
    """
    libdir = Path(str(sysconfig.get_config_var("LIBDIR")))
    soname = f"libpython{sys.version_info.major}.{sys.version_info.minor}.so.1.0"
    if not (libdir / soname).exists():
        raise LocalTritonUnavailableError(
            f"{soname} not in {libdir}: this Python has no shared lib"
        )
    return libdir


def local_model_config(
    source: Path = PRODUCTION_CONFIG,
    *,
    max_queue_delay_us: int | None = None,
    threads: int = 0,
) -> model_config_pb2.ModelConfig:
    """The production config, switched to the Python backend on CPU."""
    config = model_config_pb2.ModelConfig()
    text_format.Parse(source.read_text(), config)
    config.backend = "python"
    config.ClearField("platform")
    config.ClearField("optimization")
    del config.instance_group[:]
    config.instance_group.add(count=1, kind=model_config_pb2.ModelInstanceGroup.KIND_CPU)
    config.parameters["intra_op_thread_count"].string_value = str(threads)
    config.parameters["inter_op_thread_count"].string_value = "1"
    # Keep only the single-crop warm-up: a full-batch one costs seconds per start on CPU.
    warmups = [w for w in config.model_warmup if w.batch_size == 1]
    del config.model_warmup[:]
    config.model_warmup.extend(warmups)
    if max_queue_delay_us is not None:
        config.dynamic_batching.max_queue_delay_microseconds = max_queue_delay_us
    return config


class LocalTriton:
    """One ``tritonserver`` process serving ``facemesh`` from a repository under ``workdir``.

    ``start`` picks free ports once; ``restart`` reuses them, as a restarted Triton behind a
    fixed service address would.
    """

    def __init__(
        self,
        workdir: Path,
        onnx_path: Path = MODEL_ONNX,
        *,
        max_queue_delay_us: int | None = None,
        threads: int = 0,
        triton_venv: Path = TRITON_VENV,
        config_name: str | None = None,
        extra_models: tuple[str, ...] = (),
    ) -> None:
        self.workdir = workdir
        self.config_name = config_name
        detector = REPOSITORY / DETECTOR_NAME / "1" / "model.onnx"
        # model name -> ONNX file; the detector only where it has been built.
        self.models = {MODEL_NAME: onnx_path.resolve()}
        if detector.is_file():
            self.models[DETECTOR_NAME] = detector.resolve()
        # Further models of the repository by name (e.g. FACELANDMARKER_NAMES), when asked.
        for name in extra_models:
            extra = REPOSITORY / name / "1" / "model.onnx"
            if not extra.is_file():
                raise LocalTritonUnavailableError(f"{extra} missing: run `make model`")
            self.models[name] = extra.resolve()
        self.triton_venv = triton_venv
        self.onnx_path = onnx_path.resolve()
        self.max_queue_delay_us = max_queue_delay_us
        self.threads = threads
        self.http_port = 0
        self.grpc_port = 0
        self.metrics_port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "tritonserver.log"
        # The Python backend's /dev/shm regions survive a SIGKILL; a prefix of our own lets
        # stop() remove exactly this server's.
        self.shm_prefix = f"facemesh_test_{os.getpid()}_{id(self):x}_"

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        return f"127.0.0.1:{self.http_port}"

    def _layout(self) -> tuple[Path, Path]:
        site = triton_site_packages(self.triton_venv)
        server = site / "pytriton" / "tritonserver"
        backends = self.workdir / "backends"
        python_backend = backends / "python"
        if not python_backend.exists():
            python_backend.mkdir(parents=True)
            for item in (server / "backends" / "python").iterdir():
                if item.is_file():
                    shutil.copy2(item, python_backend / item.name)
            # The stub's embedded interpreter ignores PYTHONPATH. The stub imports this module
            # first, so it puts the Triton virtualenv's numpy and onnxruntime on sys.path.
            utils = python_backend / "triton_python_backend_utils.py"
            utils.write_text(
                "# Prepended by tools/servers/triton.py (embedded Python ignores PYTHONPATH)\n"
                f"import sys as _sys\n_sys.path[0:0] = [{str(site)!r}]\n" + utils.read_text()
            )
            version = f"{sys.version_info.major}.{sys.version_info.minor}"
            stub = server / "python_backend_stubs" / version / "triton_python_backend_stub"
            if not stub.exists():
                raise LocalTritonUnavailableError(
                    f"nvidia-pytriton has no stub for Python {version}"
                )
            shutil.copy2(stub, python_backend / stub.name)
        repository = self.workdir / "repository"
        for model, onnx_file in self.models.items():
            self._model_layout(repository, model, onnx_file)
        return server, repository

    def _model_layout(self, repository: Path, model: str, onnx_file: Path) -> None:
        model_dir = repository / model
        version_dir = model_dir / "1"
        version_dir.mkdir(parents=True, exist_ok=True)
        config = local_model_config(
            REPOSITORY / model / "config.pbtxt",
            max_queue_delay_us=self.max_queue_delay_us,
            threads=self.threads,
        )
        text = text_format.MessageToString(config)
        if self.config_name is None:
            (model_dir / "config.pbtxt").write_text(text)
        else:
            # As docker-compose.cpu.yml deploys it: the production config.pbtxt (whose
            # onnxruntime backend this Triton lacks) plus configs/<name>.pbtxt, selected by
            # --model-config-name.
            shutil.copy2(REPOSITORY / model / "config.pbtxt", model_dir / "config.pbtxt")
            (model_dir / "configs").mkdir(exist_ok=True)
            (model_dir / "configs" / f"{self.config_name}.pbtxt").write_text(text)
        shutil.copy2(PYTHON_MODEL, version_dir / "model.py")
        link = version_dir / "model.onnx"
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(onnx_file)

    def _command(self, server: Path, repository: Path) -> list[str]:
        selected = [] if self.config_name is None else [f"--model-config-name={self.config_name}"]
        return [
            str(server / "bin" / "tritonserver"),
            *selected,
            f"--model-repository={repository}",
            f"--backend-directory={self.workdir / 'backends'}",
            f"--http-port={self.http_port}",
            f"--grpc-port={self.grpc_port}",
            f"--metrics-port={self.metrics_port}",
            "--http-address=127.0.0.1",
            "--grpc-address=127.0.0.1",
            "--metrics-address=127.0.0.1",
            "--model-control-mode=none",
            "--exit-on-error=true",
            "--disable-auto-complete-config",
            "--strict-readiness=true",
            "--exit-timeout-secs=5",
            "--log-verbose=0",
            "--backend-config=python,shm-default-byte-size=16777216",
            f"--backend-config=python,shm-region-prefix-name={self.shm_prefix}",
        ]

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        # The copied stub loses its RPATH to the wheel's bundled libraries (libcudart, ...).
        bundled = triton_site_packages(self.triton_venv) / "nvidia_pytriton.libs"
        env["LD_LIBRARY_PATH"] = os.pathsep.join(
            [str(python_libdir()), str(bundled), env.get("LD_LIBRARY_PATH", "")]
        ).strip(os.pathsep)
        return env

    def start(self, timeout_s: float = 180.0) -> None:
        """Launch the server and block until ``facemesh`` is ready (or raise with the log)."""
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError("tritonserver already running")
        if not self.onnx_path.exists():
            raise FileNotFoundError(self.onnx_path)
        self.workdir.mkdir(parents=True, exist_ok=True)
        server, repository = self._layout()
        if not self.http_port:
            self.http_port, self.grpc_port, self.metrics_port = (free_port() for _ in range(3))
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self._command(server, repository),
                env=self._env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its stubs die with it, not with our terminal
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"tritonserver exited:\n{self.log_tail()}")
            if all(self.model_ready(model) for model in self.models):
                return
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"tritonserver not ready after {timeout_s} s:\n{self.log_tail()}")

    def _get(self, path: str, timeout_s: float = 2.0) -> tuple[int, bytes]:
        url = f"http://{self.http_url}{path}"
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as response:
                return int(response.status), bytes(response.read())
        except urllib.error.HTTPError as error:
            return int(error.code), b""
        except OSError:
            return 0, b""

    def model_ready(self, model: str = MODEL_NAME) -> bool:
        status, _ = self._get(f"/v2/models/{model}/ready")
        return status == 200

    def statistics(self, model: str = MODEL_NAME) -> dict[str, Any]:
        """Triton's own per-model statistics (``/v2/models/<model>/stats``)."""
        status, body = self._get(f"/v2/models/{model}/stats", timeout_s=10.0)
        if status != 200:
            raise RuntimeError(f"statistics request failed with HTTP {status}")
        stats: dict[str, Any] = json.loads(body)["model_stats"][0]
        return stats

    def kill(self) -> None:
        """SIGKILL the server and its Python stubs: a crash, not a shutdown."""
        self._signal_group(signal.SIGKILL)
        if self.process is not None:
            self.process.wait()

    def freeze(self) -> None:
        """SIGSTOP: the ports stay open but nothing answers (a hung server)."""
        self._signal_group(signal.SIGSTOP)

    def thaw(self) -> None:
        self._signal_group(signal.SIGCONT)

    def stop(self) -> None:
        """Graceful shutdown, escalating to SIGKILL."""
        if self.process is not None and self.process.poll() is None:
            self._signal_group(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self._signal_group(signal.SIGKILL)  # stubs left behind by a killed server
        self._remove_shm()

    def _remove_shm(self) -> None:
        for region in Path("/dev/shm").glob(f"{self.shm_prefix}*"):
            with contextlib.suppress(OSError):
                region.unlink()

    def restart(self, timeout_s: float = 180.0) -> None:
        self.stop()
        self.start(timeout_s)

    def _signal_group(self, sig: signal.Signals) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
