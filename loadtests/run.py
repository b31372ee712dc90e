"""Run the load tests end to end: start the gateway on loopback, run locust, report, stop.

For each backend it starts ``python -m service`` on 127.0.0.1 (a free port unless
``--port``), waits for ``/readyz``, runs each profile's locustfile headless with a step load
(``locustfiles/shape.py``), then SIGTERMs the gateway. Every run is bounded in users
(``--users``), duration (``--run-time``) and requests (``--max-requests``), and only ever
targets loopback addresses. Per backend and profile it writes, under ``--out``:

    <backend>/<profile>_stats.csv, _stats_history.csv, _failures.csv, _exceptions.csv
    <backend>/<profile>_report.html        locust's HTML report
    <backend>/<profile>_requests.csv       one row per request (for the plot)
    <backend>/<profile>_stages.csv         per user step: throughput, p50/p95/p99
    <backend>/<profile>_latency_vs_throughput.png
    <backend>/gateway.log, gateway_rss.csv (RSS every 2 s: steady in a soak?)
    summary.json, summary.md               machine, settings, numbers, failures

Exit status 0 only when no request failed (HTTP error or failed body check).

    python -m loadtests.run                              # CI size: 60 s, <= 20 users, crops
    python -m loadtests.run --profiles crop,batch --backends onnxruntime --run-time 60
    python -m loadtests.run --profiles crop --stages 10 --run-time 600 --max-requests 0  # soak
    python -m loadtests.run --backends onnxruntime,triton    # starts a local tritonserver too
    python -m loadtests.run --backends triton --triton-url 127.0.0.1:8001
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import importlib.metadata
import json
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from loadtests.wire import is_loopback_url

ROOT = Path(__file__).resolve().parents[1]
LOCUSTFILES = Path(__file__).resolve().parent / "locustfiles"
PROFILES = {
    "crop": ("crop.py", "/v1/crop"),
    "batch": ("batch.py", "/v1/crops"),
    "frame": ("frame.py", "/v1/frame"),
    "burst": ("burst.py", "/v1/crops"),
}
# Gateway settings a profile needs unless --env overrides them: the burst profile runs
# against low admission limits so that it overloads the gateway on purpose.
PROFILE_ENV = {"burst": {"FACEMESH_MAX_IN_FLIGHT": "2", "FACEMESH_MAX_QUEUE": "4"}}
BACKENDS = ("onnxruntime", "triton")
LOOPBACK = "127.0.0.1"
# Hard ceilings, whatever the command line says.
MAX_USERS = 200
MAX_RUN_TIME_S = 3600


@dataclass
class StageStats:
    users: int
    requests: int
    failures: int
    items: int
    seconds: float
    requests_per_s: float
    items_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", default="crop,batch", help="comma list of crop,batch,frame")
    parser.add_argument("--backends", default="onnxruntime", help="comma list: onnxruntime,triton")
    parser.add_argument("--users", type=int, default=20, help="peak simulated users")
    parser.add_argument(
        "--stages",
        default="",
        help="user counts to step through (default: 1,2,4,8,... up to --users)",
    )
    parser.add_argument(
        "--run-time", type=float, default=60.0, help="seconds per profile (all stages)"
    )
    parser.add_argument(
        "--max-requests", type=int, default=50_000, help="stop a profile after N (0: none)"
    )
    parser.add_argument("--port", type=int, default=0, help="gateway port (0: a free one)")
    parser.add_argument(
        "--host",
        default="",
        help="use an already running loopback gateway (http://127.0.0.1:PORT) instead",
    )
    parser.add_argument("--triton-url", default="", help="host:port of a loopback Triton")
    parser.add_argument(
        "--env", action="append", default=[], help="extra gateway setting KEY=VALUE (repeat)"
    )
    parser.add_argument("--out", type=Path, default=None, help="report folder")
    parser.add_argument("--ready-timeout", type=float, default=180.0)
    args = parser.parse_args(argv)
    args.profiles = [p for p in args.profiles.split(",") if p]
    args.backends = [b for b in args.backends.split(",") if b]
    for name in args.profiles:
        if name not in PROFILES:
            parser.error(f"unknown profile {name!r}")
    if "burst" in args.profiles and len(args.profiles) > 1:
        parser.error("the burst profile runs alone (it starts the gateway with low limits)")
    for name in args.backends:
        if name not in BACKENDS:
            parser.error(f"unknown backend {name!r}")
    if not 1 <= args.users <= MAX_USERS:
        parser.error(f"--users must be 1..{MAX_USERS}")
    if not 0 < args.run_time <= MAX_RUN_TIME_S:
        parser.error(f"--run-time must be in (0, {MAX_RUN_TIME_S}] seconds")
    args.stages = parse_stages(args.stages, args.users)
    if args.host and not is_loopback_url(args.host):
        parser.error("--host must be a loopback address")
    if args.triton_url and not is_loopback_url(f"grpc://{args.triton_url}"):
        parser.error("--triton-url must be a loopback address")
    if args.out is None:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        args.out = ROOT / "loadtests" / "reports" / stamp
    return args


def parse_stages(text: str, users: int) -> list[int]:
    """User counts to step through: the given list, or doubling 1, 2, 4, ... up to ``users``."""
    if text:
        stages = [int(s) for s in text.split(",") if s]
    else:
        stages, n = [], 1
        while n < users:
            stages.append(n)
            n *= 2
        stages.append(users)
    if not stages or min(stages) < 1 or max(stages) > users:
        raise SystemExit(f"stages {stages} must be within 1..{users} (--users)")
    return stages


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


class Gateway:
    """``python -m service`` on loopback, its log in a file, its RSS sampled every 2 s."""

    def __init__(self, backend: str, port: int, env: dict[str, str], out: Path) -> None:
        self.url = f"http://{LOOPBACK}:{port}"
        self.out = out
        self.rss: list[tuple[float, int]] = []
        self.ready_at: float | None = None
        self._stop = threading.Event()
        environ = dict(os.environ)
        environ.update(
            {
                "FACEMESH_HOST": LOOPBACK,
                "FACEMESH_PORT": str(port),
                "FACEMESH_BACKEND": backend,
                "PYTHONUNBUFFERED": "1",
            }
        )
        environ.update(env)
        self.log = open(out / "gateway.log", "wb")  # noqa: SIM115 (closed in stop())
        self.process = subprocess.Popen(
            [sys.executable, "-m", "service"],
            cwd=ROOT,
            env=environ,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._sampler = threading.Thread(target=self._sample_rss, daemon=True)
        self._sampler.start()

    def _sample_rss(self) -> None:
        import psutil

        try:
            process = psutil.Process(self.process.pid)
            while not self._stop.is_set():
                rss = process.memory_info().rss
                for child in process.children(recursive=True):
                    rss += child.memory_info().rss
                self.rss.append((time.time(), rss))
                self._stop.wait(2.0)
        except psutil.Error:
            return

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gateway exited with {self.process.returncode}; see log")
            try:
                status, _ = http_get(f"{self.url}/readyz", timeout=2.0)
                if status == 200:
                    self.ready_at = time.time()
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"gateway not ready within {timeout:.0f} s")

    def rss_summary(self) -> dict[str, float | None]:
        """RSS (MiB, gateway and its workers) when it became ready, at the end, and the max."""
        after_ready = [r for t, r in self.rss if self.ready_at is None or t >= self.ready_at]

        def mib(value: int | None) -> float | None:
            return None if value is None else round(value / 2**20, 1)

        return {
            "rss_ready_mib": mib(after_ready[0] if after_ready else None),
            "rss_end_mib": mib(after_ready[-1] if after_ready else None),
            "rss_max_mib": mib(max(after_ready) if after_ready else None),
        }

    def cpu_seconds(self) -> float | None:
        """CPU time (user + system) used so far by the gateway and its workers."""
        import psutil

        try:
            process = psutil.Process(self.process.pid)
            total = 0.0
            for proc in [process, *process.children(recursive=True)]:
                times = proc.cpu_times()
                total += times.user + times.system
            return round(total, 1)
        except psutil.Error:
            return None

    def stop(self) -> int | None:
        self._stop.set()
        self._sampler.join(timeout=5)
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.log.close()
        with open(self.out / "gateway_rss.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["time", "rss_bytes"])
            writer.writerows((f"{t:.3f}", rss) for t, rss in self.rss)
        return self.process.returncode


def serves_route(base_url: str, route: str) -> bool:
    status, body = http_get(f"{base_url}/openapi.json")
    return status == 200 and route in json.loads(body).get("paths", {})


def run_locust(
    profile: str, host: str, stages: list[int], args: argparse.Namespace, out: Path
) -> int:
    locustfile, _ = PROFILES[profile]
    prefix = out / profile
    environ = dict(os.environ)
    environ.update(
        {
            "PYTHONPATH": str(ROOT),
            "LOADTEST_STAGES": ",".join(map(str, stages)),
            "LOADTEST_STAGE_SECONDS": f"{args.run_time / len(stages):.6f}",
            "LOCUST_MAX_REQUESTS": str(args.max_requests),
            "LOCUST_REQUESTS_CSV": f"{prefix}_requests.csv",
        }
    )
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        f"{LOCUSTFILES / locustfile},{LOCUSTFILES / 'shape.py'}",
        "--headless",
        "--host",
        host,
        "--stop-timeout",
        "10",
        "--csv",
        str(prefix),
        "--csv-full-history",
        "--html",
        f"{prefix}_report.html",
        "--only-summary",
        "--loglevel",
        "WARNING",
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        return _run_locust_process(command, environ, prefix, args.run_time)
    finally:
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        LOCUST_CPU_S[str(prefix)] = round(cpu, 1)


LOCUST_CPU_S: dict[str, float] = {}


def _run_locust_process(
    command: list[str], environ: dict[str, str], prefix: Path, run_time: float
) -> int:
    with open(f"{prefix}_locust.log", "wb") as log:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=environ,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        # The step shape ends the run after --run-time; this is the hard stop if it does not.
        try:
            return process.wait(timeout=run_time + 120)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
            return 124


def read_requests(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with open(path, newline="") as handle:
        return [
            {
                "name": row["name"],
                "start": float(row["start"]),
                "response_ms": float(row["response_ms"]),
                "items": int(row["items"]),
                "success": row["success"] == "1",
                "users": int(row["users"]),
            }
            for row in csv.DictReader(handle)
        ]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def stage_stats(
    rows: list[dict[str, Any]], stages: list[int], stage_seconds: float
) -> list[StageStats]:
    """Per user step: throughput and latency of the requests started inside that step's time
    window (the first request marks t=0; the first 20% of each step, at most 1 s, is ramp-up
    and left out). Throughput counts successful requests and the crops they carried."""
    if not rows:
        return []
    t0 = min(r["start"] for r in rows)
    ramp = min(1.0, 0.2 * stage_seconds)
    result = []
    for index, users in enumerate(stages):
        begin = t0 + index * stage_seconds + ramp
        end = t0 + (index + 1) * stage_seconds
        group = [r for r in rows if begin <= r["start"] < end]
        if not group:
            continue
        seconds = end - begin
        ok = [r["response_ms"] for r in group if r["success"]]
        latencies = ok or [r["response_ms"] for r in group]
        items = sum(r["items"] for r in group if r["success"])
        result.append(
            StageStats(
                users=users,
                requests=len(group),
                failures=sum(not r["success"] for r in group),
                items=items,
                seconds=round(seconds, 3),
                requests_per_s=round(len(ok) / seconds, 2),
                items_per_s=round(items / seconds, 2),
                p50_ms=round(percentile(latencies, 50), 2),
                p95_ms=round(percentile(latencies, 95), 2),
                p99_ms=round(percentile(latencies, 99), 2),
                max_ms=round(max(latencies), 2),
            )
        )
    return result


def write_stages(path: Path, stages: list[StageStats]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(StageStats.__dataclass_fields__))
        writer.writeheader()
        writer.writerows(asdict(s) for s in stages)


def plot(path: Path, title: str, curves: dict[str, list[StageStats]], unit: str) -> None:
    """Latency (p50 solid, p95 dashed, p99 dotted) against achieved throughput, one colour
    per backend, each point labelled with its user count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    for index, (label, stages) in enumerate(curves.items()):
        if not stages:
            continue
        colour = f"C{index}"
        x = [s.items_per_s for s in stages]
        for attr, style in (("p50_ms", "-"), ("p95_ms", "--"), ("p99_ms", ":")):
            ax.plot(
                x,
                [getattr(s, attr) for s in stages],
                style,
                marker="o",
                color=colour,
                label=f"{label} {attr.removesuffix('_ms')}",
            )
        for s in stages:
            ax.annotate(
                f"{s.users}u",
                (s.items_per_s, s.p95_ms),
                textcoords="offset points",
                xytext=(4, 4),
                fontsize=7,
                color=colour,
            )
    ax.set_xlabel(f"throughput ({unit}/s, successful)")
    ax.set_ylabel("latency (ms)")
    ax.set_title(title)
    ax.set_ylim(bottom=0)
    ax.set_xlim(left=0)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def machine_info() -> dict[str, Any]:
    def first(path: str, key: str) -> str:
        try:
            for line in Path(path).read_text().splitlines():
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return "unknown"

    versions = {}
    for package in ("onnxruntime", "onnxruntime-gpu", "fastapi", "uvicorn", "locust", "numpy"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if dirty:
            commit += "+uncommitted-changes"
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    gpu = "none"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        gpu = (
            subprocess.run(
                ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                check=True,
                timeout=10,
            ).stdout.strip()
            or "none"
        )
    return {
        "platform": platform.platform(),
        "cpu": first("/proc/cpuinfo", "model name"),
        "logical_cpus": os.cpu_count(),
        "memory": first("/proc/meminfo", "MemTotal"),
        "gpu": gpu,
        "python": platform.python_version(),
        "packages": versions,
        "git_commit": commit,
        "note": "locust and the gateway share this machine's CPUs",
    }


def gateway_env(args: argparse.Namespace, backend: str, triton_url: str) -> dict[str, str]:
    env = dict(item.split("=", 1) for item in args.env)
    for profile in args.profiles:
        for key, value in PROFILE_ENV.get(profile, {}).items():
            env.setdefault(key, value)
    if backend == "triton" and triton_url:
        env.setdefault("FACEMESH_TRITON_URL", triton_url)
        env.setdefault("FACEMESH_TRITON_PROTOCOL", "grpc")
    return env


@contextlib.contextmanager
def triton_server(args: argparse.Namespace, backend: str, out: Path) -> Iterator[str]:
    """The Triton gRPC address for the triton backend: ``--triton-url``, or a local
    ``tritonserver`` from nvidia-pytriton (``make triton-venv``, ``tools/servers/triton.py``)
    on free loopback ports, stopped afterwards."""
    if backend != "triton" or args.host or args.triton_url:
        yield args.triton_url
        return
    from tools.servers.triton import LocalTriton

    # Its working files (model copy, backend binaries) stay out of the report; its log is kept.
    with tempfile.TemporaryDirectory(prefix="loadtest-triton-") as workdir:
        server = LocalTriton(Path(workdir))
        print(f"[{backend}] starting a local tritonserver (nvidia-pytriton)", flush=True)
        try:
            server.start()
            yield server.grpc_url
        finally:
            server.stop()
            if server.log_path.exists():
                shutil.copy(server.log_path, out / "tritonserver.log")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "settings": {
            "profiles": args.profiles,
            "backends": args.backends,
            "users": args.users,
            "stages": args.stages,
            "run_time_s": args.run_time,
            "max_requests": args.max_requests,
            "extra_env": args.env,
        },
        "runs": [],
    }
    failed = False
    curves: dict[str, dict[str, list[StageStats]]] = defaultdict(dict)
    for backend in args.backends:
        backend_out = out / backend
        backend_out.mkdir(exist_ok=True)
        gateway = None
        stack = contextlib.ExitStack()
        try:
            triton_url = stack.enter_context(triton_server(args, backend, backend_out))
            if args.host:
                host = args.host.rstrip("/")
            else:
                port = args.port or free_port()
                env = gateway_env(args, backend, triton_url)
                gateway = Gateway(backend, port, env, backend_out)
                print(f"[{backend}] starting gateway on {gateway.url}", flush=True)
                gateway.wait_ready(args.ready_timeout)
                host = gateway.url
            for profile in args.profiles:
                route = PROFILES[profile][1]
                if not serves_route(host, route):
                    print(f"[{backend}] {profile}: {route} not served, skipped", flush=True)
                    summary["runs"].append(
                        {"backend": backend, "profile": profile, "skipped": f"no {route}"}
                    )
                    continue
                print(f"[{backend}] {profile}: stages {args.stages}, {args.run_time:.0f} s")
                gateway_cpu = gateway.cpu_seconds() if gateway else None
                load_before = os.getloadavg()[0]
                started = time.monotonic()
                code = run_locust(profile, host, args.stages, args, backend_out)
                elapsed = time.monotonic() - started
                run = summarise(
                    backend,
                    profile,
                    backend_out,
                    args.stages,
                    args.run_time / len(args.stages),
                    code,
                )
                after_cpu = gateway.cpu_seconds() if gateway else None
                run["cpu"] = {
                    "wall_s": round(elapsed, 1),
                    "locust_cpu_s": LOCUST_CPU_S.get(str(backend_out / profile)),
                    "gateway_cpu_s": (
                        round(after_cpu - gateway_cpu, 1)
                        if after_cpu is not None and gateway_cpu is not None
                        else None
                    ),
                    "loadavg_1m_before": round(load_before, 2),
                    "loadavg_1m_after": round(os.getloadavg()[0], 2),
                }
                curves[profile][backend] = [StageStats(**s) for s in run["stages"]]
                unit = "crops" if profile != "frame" else "frames"
                plot(
                    backend_out / f"{profile}_latency_vs_throughput.png",
                    f"{profile} ({route}), {backend} backend",
                    {backend: curves[profile][backend]},
                    unit,
                )
                summary["runs"].append(run)
                # locust exits 1 on any failed request or exception in a user.
                failed |= run["failures"] > 0 or run["requests"] == 0 or code != 0
                print(
                    f"[{backend}] {profile}: {run['requests']} requests, "
                    f"{run['failures']} failed, locust exit {code}",
                    flush=True,
                )
        except (RuntimeError, OSError, ImportError) as exc:
            print(f"[{backend}] error: {exc}", flush=True)
            summary["runs"].append({"backend": backend, "error": str(exc)})
            failed = True
        finally:
            if gateway is not None:
                code = gateway.stop()
                summary.setdefault("gateway", {})[backend] = {
                    "exit_code": code,
                    **gateway.rss_summary(),
                }
            stack.close()
    for profile, per_backend in curves.items():
        if len(per_backend) > 1:
            unit = "crops" if profile != "frame" else "frames"
            plot(
                out / f"{profile}_latency_vs_throughput.png",
                f"{profile}: backends",
                per_backend,
                unit,
            )
    summary["finished"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    summary["passed"] = not failed
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "summary.md").write_text(render_markdown(summary))
    print(f"report: {out}  ({'PASSED' if not failed else 'FAILED'})", flush=True)
    return 0 if not failed else 1


def summarise(
    backend: str,
    profile: str,
    out: Path,
    stages: list[int],
    stage_seconds: float,
    locust_code: int,
) -> dict[str, Any]:
    rows = read_requests(out / f"{profile}_requests.csv")
    per_stage = stage_stats(rows, stages, stage_seconds)
    write_stages(out / f"{profile}_stages.csv", per_stage)
    failures: list[dict[str, str]] = []
    failures_csv = out / f"{profile}_failures.csv"
    if failures_csv.exists():
        with open(failures_csv, newline="") as handle:
            failures = list(csv.DictReader(handle))
    ok = [r["response_ms"] for r in rows if r["success"]]
    return {
        "backend": backend,
        "profile": profile,
        "locust_exit_code": locust_code,
        "requests": len(rows),
        "failures": sum(not r["success"] for r in rows),
        "items_ok": sum(r["items"] for r in rows if r["success"]),
        "p50_ms": round(percentile(ok, 50), 2) if ok else None,
        "p95_ms": round(percentile(ok, 95), 2) if ok else None,
        "p99_ms": round(percentile(ok, 99), 2) if ok else None,
        "mean_ms": round(statistics.fmean(ok), 2) if ok else None,
        "by_name": {
            name: {
                "requests": len(group),
                "failures": sum(not r["success"] for r in group),
                "p50_ms": round(percentile([r["response_ms"] for r in group], 50), 2),
                "p95_ms": round(percentile([r["response_ms"] for r in group], 95), 2),
                "max_ms": round(max(r["response_ms"] for r in group), 2),
            }
            for name in sorted({r["name"] for r in rows})
            for group in [[r for r in rows if r["name"] == name]]
        },
        "failure_reasons": failures[:20],
        "stages": [asdict(s) for s in per_stage],
    }


def render_markdown(summary: dict[str, Any]) -> str:
    machine = summary["machine"]
    lines = [
        "# Load test report",
        "",
        f"Started {summary['started']}, finished {summary['finished']}; "
        f"**{'passed' if summary['passed'] else 'FAILED'}** (zero failed checks required).",
        "",
        "## Machine",
        "",
        f"- CPU: {machine['cpu']} ({machine['logical_cpus']} logical CPUs), "
        f"memory {machine['memory']}, GPU: {machine['gpu']}",
        f"- {machine['platform']}, Python {machine['python']}, commit {machine['git_commit']}",
        f"- packages: {', '.join(f'{k} {v}' for k, v in machine['packages'].items())}",
        f"- {machine['note']}",
        "",
        "## Settings",
        "",
        f"```json\n{json.dumps(summary['settings'], indent=2)}\n```",
        "",
    ]
    for backend, info in summary.get("gateway", {}).items():
        lines.append(
            f"Gateway ({backend}) RSS: {info['rss_ready_mib']} MiB when ready, "
            f"{info['rss_end_mib']} MiB at the end, max {info['rss_max_mib']} MiB; exit code "
            f"{info['exit_code']} after SIGTERM (-15: uvicorn shut down cleanly and re-raised "
            "the signal)."
        )
    lines.append("")
    for run in summary["runs"]:
        if "stages" not in run:
            lines += [f"## {run.get('backend')} / {run.get('profile', '-')}", "", str(run), ""]
            continue
        unit = "frames" if run["profile"] == "frame" else "crops"
        lines += [
            f"## {run['backend']} backend, {run['profile']}",
            "",
            f"{run['requests']} requests, {run['failures']} failed, {run['items_ok']} {unit} "
            f"answered and checked; latency p50 {run['p50_ms']} ms, p95 {run['p95_ms']} ms, "
            f"p99 {run['p99_ms']} ms.",
            "",
            f"| users | requests | failed | req/s | {unit}/s | p50 ms | p95 ms | p99 ms |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for s in run["stages"]:
            lines.append(
                f"| {s['users']} | {s['requests']} | {s['failures']} | {s['requests_per_s']} "
                f"| {s['items_per_s']} | {s['p50_ms']} | {s['p95_ms']} | {s['p99_ms']} |"
            )
        if len(run.get("by_name", {})) > 1:
            lines += ["", "| request name | requests | failed | p50 ms | p95 ms | max ms |"]
            lines.append("|---|---:|---:|---:|---:|---:|")
            for name, info in run["by_name"].items():
                lines.append(
                    f"| `{name}` | {info['requests']} | {info['failures']} | {info['p50_ms']} "
                    f"| {info['p95_ms']} | {info['max_ms']} |"
                )
            lines.append("")
        cpu = run.get("cpu", {})
        lines += [
            "",
            f"CPU over {cpu.get('wall_s')} s of load: gateway {cpu.get('gateway_cpu_s')} CPU-s, "
            f"locust {cpu.get('locust_cpu_s')} CPU-s; 1-min load average "
            f"{cpu.get('loadavg_1m_before')} before, {cpu.get('loadavg_1m_after')} after "
            "(other processes on the machine count too).",
            "",
            f"![latency vs throughput]({run['backend']}/{run['profile']}"
            "_latency_vs_throughput.png)",
            "",
        ]
        for failure in run["failure_reasons"]:
            lines.append(f"- failure: {failure}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
