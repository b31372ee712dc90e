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
    python -m loadtests.run --profiles crop,batch --backends embedded --run-time 60
    python -m loadtests.run --profiles crop --stages 10 --run-time 600 --max-requests 0  # soak
    python -m loadtests.run --backends embedded,triton       # starts a local tritonserver too
    python -m loadtests.run --backends triton --triton-url 127.0.0.1:8001
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from loadtests.processes import (
    LOCUST_CPU_S,
    ROOT,
    Gateway,
    run_locust,
    serves_route,
    triton_server,
)
from loadtests.reporting import machine_info, plot, render_markdown, summarise
from loadtests.sampling import StageStats
from loadtests.wire import is_loopback_url
from tools.servers.ports import free_port

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


BACKENDS = ("embedded", "triton")


# Hard ceilings, whatever the command line says.
MAX_USERS = 200


MAX_RUN_TIME_S = 3600


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", default="crop,batch", help="comma list of crop,batch,frame")
    parser.add_argument("--backends", default="embedded", help="comma list: embedded,triton")
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


def gateway_env(args: argparse.Namespace, backend: str, triton_url: str) -> dict[str, str]:
    env = dict(item.split("=", 1) for item in args.env)
    for profile in args.profiles:
        for key, value in PROFILE_ENV.get(profile, {}).items():
            env.setdefault(key, value)
    if backend == "triton" and triton_url:
        env.setdefault("FACEMESH_TRITON_URL", triton_url)
        env.setdefault("FACEMESH_TRITON_PROTOCOL", "grpc")
    return env


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
                code = run_locust(
                    profile, PROFILES[profile][0], host, args.stages, args, backend_out
                )
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


if __name__ == "__main__":
    sys.exit(main())
