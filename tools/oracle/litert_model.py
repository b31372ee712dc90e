"""A .tflite run by Google's LiteRT (TensorFlow Lite) interpreter, one item at a time: the
oracle for the converter's op-level parity goldens.

Runs inside the oracle virtualenv (ai-edge-litert, numpy<2), never in the service's:
``python litert_model.py MODEL.tflite INPUTS.npy OUTPUTS.npz``. INPUTS.npy is float32
[N, *input shape without batch]; each item is fed as a batch of one (the authors' graphs have
batch 1) and every output tensor is stacked over the items into OUTPUTS.npz, keyed by the
TFLite output tensor's name.
"""

import sys

import numpy as np
from ai_edge_litert.interpreter import Interpreter


def main() -> None:
    model, inputs, outputs = sys.argv[1:4]
    interpreter = Interpreter(model_path=model)
    interpreter.allocate_tensors()
    (source,) = interpreter.get_input_details()
    results: dict[str, list[np.ndarray]] = {d["name"]: [] for d in interpreter.get_output_details()}
    for item in np.load(inputs):
        interpreter.set_tensor(source["index"], item[None].astype(source["dtype"]))
        interpreter.invoke()
        for detail in interpreter.get_output_details():
            results[detail["name"]].append(interpreter.get_tensor(detail["index"]).copy())
    np.savez(outputs, **{name: np.stack(values) for name, values in results.items()})


if __name__ == "__main__":
    main()
