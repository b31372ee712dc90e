"""Is system shared memory worth it between the gateway and Triton on one host?

    .venv/bin/python -m benchmarks.triton_shm [--batches 1,16,64] [--calls 30]

Starts a local tritonserver (tools/servers/triton.py) and, for each batch size, times
``--calls`` sequential gRPC inferences of the same crops two ways: tensors in the request
(binary, as ``TritonBackend`` sends them) and tensors in registered system shared memory
(input and all outputs). Triton's statistics give the server-side time of the same calls
(queue + compute), so ``client time - server time`` is what the transport costs; shared memory
can at most save that.

``--transport-only`` serves a stand-in ONNX model with the same inputs and outputs and almost
no compute, so model time (and its noise on a shared machine) does not hide the transport.
Writes benchmarks/reports/triton_shm.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import tritonclient.grpc as grpcclient
import tritonclient.utils.shared_memory as shm
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.harness import REPORTS, QuietCheck, write_report  # noqa: E402
from service.contract import MODEL_OUTPUTS  # noqa: E402
from tools.servers.triton import LocalTriton  # noqa: E402

CROPS = sorted((REPO / "tests" / "data" / "crops").glob("*.png"))
REPORT = REPORTS / "triton_shm.json"


def stand_in_model(path: Path) -> Path:
    """Same I/O as the contract; outputs are the image mean times constants (cheap)."""
    nodes = [
        helper.make_node("Cast", ["image"], ["pixels"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMean", ["pixels"], ["mean"], axes=[1, 2, 3], keepdims=0),
    ]
    initializers, outputs = [], []
    for name, shape in MODEL_OUTPUTS.items():
        if shape:
            initializers.append(
                numpy_helper.from_array(np.ones((1, *shape), np.float32), f"{name}_w")
            )
            initializers.append(numpy_helper.from_array(np.arange(1, 1 + len(shape)), f"{name}_ax"))
            nodes.append(helper.make_node("Unsqueeze", ["mean", f"{name}_ax"], [f"{name}_m"]))
            nodes.append(helper.make_node("Mul", [f"{name}_m", f"{name}_w"], [name]))
        else:
            nodes.append(helper.make_node("Identity", ["mean"], [name]))
        outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", *shape]))
    image = helper.make_tensor_value_info("image", TensorProto.UINT8, ["N", 192, 192, 3])
    graph = helper.make_graph(nodes, "stand_in", [image], outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def server_ms(server: LocalTriton) -> tuple[float, int]:
    """Cumulative (queue + compute) milliseconds and successful request count."""
    stats = server.statistics()["inference_stats"]
    ns = sum(
        int(stats[key]["ns"])
        for key in ("queue", "compute_input", "compute_infer", "compute_output")
    )
    return ns / 1e6, int(stats["success"]["count"])


def output_bytes(batch: int) -> dict[str, int]:
    return {name: 4 * batch * int(np.prod(shape or (1,))) for name, shape in MODEL_OUTPUTS.items()}


def run(
    client: Any, server: LocalTriton, images: np.ndarray, calls: int, use_shm: bool
) -> dict[str, float]:
    batch = len(images)
    regions: list[tuple[str, Any]] = []
    image = grpcclient.InferInput("image", list(images.shape), "UINT8")
    outputs = [grpcclient.InferRequestedOutput(name) for name in MODEL_OUTPUTS]
    if use_shm:
        key = f"facemesh_bench_{os.getpid()}_{batch}"
        handle = shm.create_shared_memory_region(f"{key}_in", f"/{key}_in", images.nbytes)
        shm.set_shared_memory_region(handle, [images])
        client.register_system_shared_memory(f"{key}_in", f"/{key}_in", images.nbytes)
        image.set_shared_memory(f"{key}_in", images.nbytes)
        regions.append(("input", handle))
        for output, (name, size) in zip(outputs, output_bytes(batch).items(), strict=True):
            handle = shm.create_shared_memory_region(f"{key}_{name}", f"/{key}_{name}", size)
            client.register_system_shared_memory(f"{key}_{name}", f"/{key}_{name}", size)
            output.set_shared_memory(f"{key}_{name}", size)
            regions.append((name, handle))
    else:
        image.set_data_from_numpy(images)
    client.infer("facemesh", [image], outputs=outputs)  # warm
    before_ms, before_n = server_ms(server)
    wall = []
    for _ in range(calls):
        start = time.perf_counter()
        if not use_shm:
            image.set_data_from_numpy(images)  # what each gateway request pays
        result = client.infer("facemesh", [image], outputs=outputs)
        if use_shm:
            for name, handle in regions[1:]:
                shape = (batch, *(MODEL_OUTPUTS[name] or (1,)))
                shm.get_contents_as_numpy(handle, np.float32, shape).copy()
        else:
            for name in MODEL_OUTPUTS:
                result.as_numpy(name)
        wall.append((time.perf_counter() - start) * 1e3)
    after_ms, after_n = server_ms(server)
    del result
    for _, handle in regions:  # registrations die with the server
        shm.destroy_shared_memory_region(handle)
    client_ms = float(np.mean(wall))
    server_per_call = (after_ms - before_ms) / max(1, after_n - before_n)
    return {
        "client_mean_ms": client_ms,
        "server_mean_ms": server_per_call,
        "transport_ms": client_ms - server_per_call,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", default="1,16,64")
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--transport-only", action="store_true", help="stand-in model")
    parser.add_argument("--report", type=Path, default=REPORT)
    args = parser.parse_args()
    crops = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in CROPS])
    workdir = Path(tempfile.mkdtemp(prefix="triton-shm-"))
    if args.transport_only:
        server = LocalTriton(workdir / "triton", stand_in_model(workdir / "stand_in.onnx"))
    else:
        server = LocalTriton(workdir / "triton")
    server.start()
    rows = []
    quiet = QuietCheck().start()
    try:
        client = grpcclient.InferenceServerClient(server.grpc_url)
        for batch in [int(b) for b in args.batches.split(",")]:
            images = np.ascontiguousarray(np.resize(crops, (batch, *crops.shape[1:])))
            row: dict[str, Any] = {"batch": batch, "input_mb": images.nbytes / 1e6}
            for mode in ("grpc_binary", "system_shm"):
                row[mode] = run(client, server, images, args.calls, mode == "system_shm")
            rows.append(row)
        client.close()
    finally:
        server.stop()
        quiet.stop()
    report = {
        "model": "stand-in (transport only)" if args.transport_only else "model.onnx",
        "rows": rows,
    }
    write_report(args.report, report, quiet)
    for row in rows:
        grpc_row, shm_row = row["grpc_binary"], row["system_shm"]
        print(
            f"batch {row['batch']:3d} ({row['input_mb']:.1f} MB in):"
            f" gRPC mean {grpc_row['client_mean_ms']:.1f} ms"
            f" (transport {grpc_row['transport_ms']:.2f}),"
            f" shm mean {shm_row['client_mean_ms']:.1f} ms"
            f" (transport {shm_row['transport_ms']:.2f})"
        )


if __name__ == "__main__":
    main()
