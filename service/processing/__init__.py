"""NumPy pre- and post-processing shared by every inference backend.

decode:      image bytes -> uint8 [H, W, 3] RGB, with validation
preprocess:  uint8 [H, W, 3] -> uint8 [192, 192, 3] model input + the transform back
postprocess: model outputs (px192) -> results in the posted image's pixels
"""
