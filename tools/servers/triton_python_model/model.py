"""Triton Python-backend model that runs the fused ONNX model with ONNX Runtime.

Test-only stand-in for Triton's onnxruntime backend, which the ``nvidia-pytriton`` wheel does
not ship. The local test server (``tools/servers/triton.py``) serves it under the production model's
name with the production config's inputs, outputs, dims and dynamic batching, and links the
real ``model.onnx`` next to this file, so the gateway's Triton client sees the same contract.

Dynamic batching hands ``execute`` several requests at once; like the onnxruntime backend,
this concatenates them along the batch axis, runs the model once and splits the outputs.
"""

from __future__ import annotations

import json
import os
from typing import Any

# isort: off
# Provided by the Python backend stub. Imported first: the launcher's copy of it puts the
# test virtualenv's site-packages on sys.path (the stub's embedded Python ignores PYTHONPATH).
import triton_python_backend_utils as pb_utils
import numpy as np
import onnxruntime as ort
# isort: on


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        self.input_name = config["input"][0]["name"]
        self.output_names = [output["name"] for output in config["output"]]
        params = {key: value["string_value"] for key, value in config.get("parameters", {}).items()}
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(params.get("intra_op_thread_count", "0"))
        options.inter_op_num_threads = int(params.get("inter_op_thread_count", "1"))
        path = os.path.join(args["model_repository"], args["model_version"], "model.onnx")
        self.session = ort.InferenceSession(
            path, sess_options=options, providers=["CPUExecutionProvider"]
        )

    def execute(self, requests: list[Any]) -> list[Any]:
        images = [
            pb_utils.get_input_tensor_by_name(request, self.input_name).as_numpy()
            for request in requests
        ]
        sizes = [len(batch) for batch in images]
        outputs = self.session.run(self.output_names, {self.input_name: np.concatenate(images)})
        responses = []
        start = 0
        for size in sizes:
            tensors = [
                pb_utils.Tensor(name, np.ascontiguousarray(value[start : start + size]))
                for name, value in zip(self.output_names, outputs, strict=True)
            ]
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
            start += size
        return responses

    def finalize(self) -> None:
        self.session = None
