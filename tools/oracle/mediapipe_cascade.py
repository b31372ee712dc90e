"""MediaPipe's own pre-attention cascade (468-point mesh + iris model per eye) on face crops.

Runs inside the oracle virtualenv (mediapipe==0.10.21, numpy<2), never in the service's; driven
by ``tools/oracle/cascade_goldens.py`` (goldens) and ``benchmarks/paper_tables.py`` (timing).

Each crop is a full-image ROI, like the attention goldens. Stages, all MediaPipe calculators:

1. ``FaceLandmarkCpu`` with ``WITH_ATTENTION: false`` (the 468-point ``face_landmark.tflite``),
   then MediaPipe's eye-ROI chain exactly as ``IrisLandmarkLandmarksToRoi`` configures it
   (``SplitNormalizedLandmarkListCalculator`` 33/133 and 362/263 -> ``LandmarksToDetection``
   -> ``DetectionsToRects`` (rotation from keypoint 0 to 1, target 0) ->
   ``RectTransformation`` (scale 2.3, square_long)).
2. Per eye: ``ImageToTensorCalculator`` (64x64, range [0, 1], border replicate) ->
   ``InferenceCalculator`` (``iris_landmark.tflite``) -> ``TensorsToLandmarksCalculator``
   (71 contour / 5 iris points, ``flip_horizontally`` for the right eye) ->
   ``LandmarkProjectionCalculator`` (the eye ROI).

Why not the iris graph itself: the 0.10.21 wheel does not register ``IrisLandmarkCpu`` nor
the legacy ``ImageCroppingCalculator`` / ``TfLiteConverterCalculator`` /
``TfLiteTensorsToLandmarksCalculator`` it is built from, nor
``UpdateFaceLandmarksCalculator``. So (a) crop + resize + convert is done by
``ImageToTensorCalculator`` in one bilinear warp (what MediaPipe's newer graphs use; the
legacy graph crops at native resolution, then resizes to 64x64); (b) the right eye's mirror is
made by mirroring the image (``cv2.flip``, exact) and cropping it with the mirrored ROI
(x_centre -> 1 - x_centre, rotation -> -rotation), which yields exactly the mirrored crop; and
(c) the final merge (``UpdateFaceLandmarksCalculator``'s 142 indices, then the two irises) is
done by the caller from the stage outputs printed here.

Usage: ``python mediapipe_cascade.py goldens IMG...`` prints one JSON line per image:
{path, mesh: 468x3 | null, rois: [[xc, yc, w, h, rot] left, right], eyes: [71x3, 71x3],
irises: [5x3, 5x3]}, all normalised like MediaPipe (x, y by the image size, z by the width).
``python mediapipe_cascade.py timing IMG...`` speaks the ``mediapipe_worker.py`` protocol
(``ready``; ``round`` -> JSON list of per-image milliseconds; ``quit``) for the whole cascade.
"""

import json
import sys
import time

import cv2
import numpy as np
from google.protobuf import text_format
from mediapipe.framework import calculator_pb2
from mediapipe.framework.formats import rect_pb2
from mediapipe.python.solution_base import SolutionBase

MESH_GRAPH = """
input_stream: "image"
input_stream: "roi"
output_stream: "mesh"
output_stream: "left_roi"
output_stream: "right_roi"
node {
  calculator: "FaceLandmarkCpu"
  input_stream: "IMAGE:image"
  input_stream: "ROI:roi"
  input_side_packet: "WITH_ATTENTION:with_attention"
  output_stream: "LANDMARKS:mesh"
}
node {
  calculator: "ImagePropertiesCalculator"
  input_stream: "IMAGE:image"
  output_stream: "SIZE:size"
}
""" + "".join(
    f"""
node {{
  calculator: "SplitNormalizedLandmarkListCalculator"
  input_stream: "mesh"
  output_stream: "{eye}_corners"
  options {{
    [mediapipe.SplitVectorCalculatorOptions.ext] {{
      ranges: {{ begin: {a} end: {a + 1} }}
      ranges: {{ begin: {b} end: {b + 1} }}
      combine_outputs: true
    }}
  }}
}}
node {{
  calculator: "LandmarksToDetectionCalculator"
  input_stream: "NORM_LANDMARKS:{eye}_corners"
  output_stream: "DETECTION:{eye}_detection"
}}
node {{
  calculator: "DetectionsToRectsCalculator"
  input_stream: "DETECTION:{eye}_detection"
  input_stream: "IMAGE_SIZE:size"
  output_stream: "NORM_RECT:{eye}_raw_roi"
  options {{
    [mediapipe.DetectionsToRectsCalculatorOptions.ext] {{
      rotation_vector_start_keypoint_index: 0
      rotation_vector_end_keypoint_index: 1
      rotation_vector_target_angle_degrees: 0
    }}
  }}
}}
node {{
  calculator: "RectTransformationCalculator"
  input_stream: "NORM_RECT:{eye}_raw_roi"
  input_stream: "IMAGE_SIZE:size"
  output_stream: "{eye}_roi"
  options {{
    [mediapipe.RectTransformationCalculatorOptions.ext] {{
      scale_x: 2.3
      scale_y: 2.3
      square_long: true
    }}
  }}
}}
"""
    for eye, a, b in (("left", 33, 133), ("right", 362, 263))
)

IRIS_GRAPH = """
input_stream: "image"
input_stream: "crop_roi"
input_stream: "roi"
output_stream: "eye"
output_stream: "iris"
node {
  calculator: "ImageToTensorCalculator"
  input_stream: "IMAGE:image"
  input_stream: "NORM_RECT:crop_roi"
  output_stream: "TENSORS:input"
  options {
    [mediapipe.ImageToTensorCalculatorOptions.ext] {
      output_tensor_width: 64
      output_tensor_height: 64
      keep_aspect_ratio: false
      output_tensor_float_range { min: 0.0 max: 1.0 }
      border_mode: BORDER_REPLICATE
    }
  }
}
node {
  calculator: "InferenceCalculator"
  input_stream: "TENSORS:input"
  output_stream: "TENSORS:output"
  options {
    [mediapipe.InferenceCalculatorOptions.ext] {
      model_path: "mediapipe/modules/iris_landmark/iris_landmark.tflite"
      delegate { xnnpack {} }
    }
  }
}
node {
  calculator: "SplitTensorVectorCalculator"
  input_stream: "output"
  output_stream: "eye_tensor"
  output_stream: "iris_tensor"
  options {
    [mediapipe.SplitVectorCalculatorOptions.ext] {
      ranges: { begin: 0 end: 1 }
      ranges: { begin: 1 end: 2 }
    }
  }
}
node {
  calculator: "TensorsToLandmarksCalculator"
  input_stream: "TENSORS:eye_tensor"
  output_stream: "NORM_LANDMARKS:eye_crop"
  options {
    [mediapipe.TensorsToLandmarksCalculatorOptions.ext] {
      num_landmarks: 71 input_image_width: 64 input_image_height: 64 flip_horizontally: FLIP
    }
  }
}
node {
  calculator: "TensorsToLandmarksCalculator"
  input_stream: "TENSORS:iris_tensor"
  output_stream: "NORM_LANDMARKS:iris_crop"
  options {
    [mediapipe.TensorsToLandmarksCalculatorOptions.ext] {
      num_landmarks: 5 input_image_width: 64 input_image_height: 64 flip_horizontally: FLIP
    }
  }
}
node {
  calculator: "LandmarkProjectionCalculator"
  input_stream: "NORM_LANDMARKS:0:eye_crop"
  input_stream: "NORM_LANDMARKS:1:iris_crop"
  input_stream: "NORM_RECT:roi"
  output_stream: "NORM_LANDMARKS:0:eye"
  output_stream: "NORM_LANDMARKS:1:iris"
}
"""


def load_rgb(path):
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        raise SystemExit(f"cannot read {path}")
    return np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def solution(graph, **side_inputs):
    config = text_format.Parse(graph, calculator_pb2.CalculatorGraphConfig())
    return SolutionBase(graph_config=config, side_inputs=side_inputs or None)


def points(landmarks):
    return [[p.x, p.y, p.z] for p in landmarks.landmark]


def rect(r):
    return [r.x_center, r.y_center, r.width, r.height, r.rotation]


class Cascade:
    def __init__(self):
        self.mesh = solution(MESH_GRAPH, with_attention=False)
        self.iris = {
            flip: solution(IRIS_GRAPH.replace("FLIP", str(flip).lower())) for flip in (False, True)
        }
        self.full = rect_pb2.NormalizedRect(
            x_center=0.5, y_center=0.5, width=1.0, height=1.0, rotation=0.0
        )

    def run(self, image):
        out = self.mesh.process({"image": image, "roi": self.full})
        if out.mesh is None:
            return None
        result = {"mesh": points(out.mesh), "rois": [], "eyes": [], "irises": []}
        mirrored = None
        for roi, flip in ((out.left_roi, False), (out.right_roi, True)):
            crop_roi = roi
            source = image
            if flip:  # crop the mirrored image with the mirrored ROI = the mirrored crop
                mirrored = (
                    np.ascontiguousarray(cv2.flip(image, 1)) if mirrored is None else mirrored
                )
                source = mirrored
                crop_roi = rect_pb2.NormalizedRect()
                crop_roi.CopyFrom(roi)
                crop_roi.x_center = 1.0 - roi.x_center
                crop_roi.rotation = -roi.rotation
            eye = self.iris[flip].process({"image": source, "crop_roi": crop_roi, "roi": roi})
            result["rois"].append(rect(roi))
            result["eyes"].append(points(eye.eye))
            result["irises"].append(points(eye.iris))
        return result


def goldens(paths):
    cascade = Cascade()
    for path in paths:
        print(json.dumps({"path": path, **(cascade.run(load_rgb(path)) or {"mesh": None})}))


def timing(paths):
    cascade = Cascade()
    images = [load_rgb(p) for p in paths]
    for image in images[:5]:
        cascade.run(image)
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() != "round":
            break
        times = []
        for image in images:
            start = time.perf_counter()
            cascade.run(image)
            times.append((time.perf_counter() - start) * 1e3)
        print(json.dumps(times), flush=True)


if __name__ == "__main__":
    mode, *files = sys.argv[1:]
    {"goldens": goldens, "timing": timing}[mode](files)
