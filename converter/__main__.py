"""Command line: ``python -m converter build --output model_repository/facemesh/1/model.onnx``;
``python -m converter mesh-topology --output service/demo/static/mesh.json`` for the web demo."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import onnx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from converter.driver import convert
from converter.errors import ConversionError
from converter.mesh_topology import write_topology
from converter.models import SPECS
from converter.source import fetch_tflite
from converter.summary import summarize, tflite_parameters
from converter.tflite_model import read_tflite

DEFAULT_CACHE = Path(".cache")


def build(args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    raw = (
        Path(args.tflite).read_bytes()
        if args.tflite
        else fetch_tflite(args.model, Path(args.cache))
    )
    model = read_tflite(raw)
    console.print(f"[bold]converting[/] {args.model}: {len(model.operators)} TFLite ops")
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("ops", total=len(model.operators))
        onnx_model = convert(
            model,
            SPECS[args.model],
            fp16=args.fp16,
            native_prelu=args.native_prelu,
            sampler=args.sampler,
            on_op=lambda _: progress.advance(task),
        )
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_suffix(".onnx.tmp")
    onnx.save(onnx_model, tmp)
    tmp.replace(output)  # atomic: a half-written model is never served
    console.print(
        f"[green]wrote[/] {output} ({output.stat().st_size:,} bytes, checker + "
        "shape inference passed)"
    )
    print(summarize(onnx_model).format())
    print(f"TFLite parameters: {tflite_parameters(model):,}")
    return 0


def info(args: argparse.Namespace) -> int:
    print(summarize(onnx.load(args.model_path)).format())
    return 0


def mesh_topology(args: argparse.Namespace) -> int:
    document = write_topology(Path(args.cache), Path(args.output))
    print(
        f"wrote {args.output}: {len(document['triangles'])} triangles, "
        f"{len(document['edges'])} edges, contours {', '.join(document['contours'])}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m converter", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    build_cmd = commands.add_parser("build", help="fetch, convert, check and write the ONNX model")
    build_cmd.add_argument("--output", required=True)
    build_cmd.add_argument("--model", choices=sorted(SPECS), default="face_landmark_with_attention")
    build_cmd.add_argument("--tflite", help="use this .tflite instead of the wheel's")
    build_cmd.add_argument("--cache", default=str(DEFAULT_CACHE), help="wheel/model cache folder")
    build_cmd.add_argument("--fp16", action="store_true", help="float16 weights/activations (GPU)")
    build_cmd.add_argument(
        "--native-prelu",
        action="store_true",
        help="emit ONNX PRelu (default: a*x + (1-a)*Relu(x), faster on ORT CPU)",
    )
    build_cmd.add_argument(
        "--sampler",
        choices=("gather", "gridsample"),
        default="gather",
        help="TransformTensorBilinear as Gather+MatMul (default) or GridSample",
    )
    build_cmd.set_defaults(run=build)
    info_cmd = commands.add_parser("info", help="print ops, parameters and MACs of an ONNX file")
    info_cmd.add_argument("model_path")
    info_cmd.set_defaults(run=info)
    topology_cmd = commands.add_parser(
        "mesh-topology", help="write the mesh's triangles/contours (from the wheel) as JSON"
    )
    topology_cmd.add_argument("--output", required=True)
    topology_cmd.add_argument("--cache", default=str(DEFAULT_CACHE), help="wheel cache folder")
    topology_cmd.set_defaults(run=mesh_topology)
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except ConversionError as error:
        print(f"conversion failed: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
