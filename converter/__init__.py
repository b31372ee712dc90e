"""TFLite -> standard-ONNX converter for MediaPipe's face models.

The driver (``converter.driver``) walks the TFLite graph and looks up one handler per op in
the registry (``converter.registry``); handlers live in ``converter.handlers``, one module
per op family. See ``converter/README.md`` for the model contract.
"""
