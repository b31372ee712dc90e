"""MediaPipe's own face geometry pipeline (the Tasks API's FaceGeometryPipelineCalculator) on
given screen landmarks: the oracle for ``service/processing/face_geometry.py``.

Runs inside the oracle virtualenv (mediapipe==0.10.21, numpy<2): ``python
mediapipe_face_geometry.py METADATA.pbtxt < cases.jsonl``; each input line is {"width",
"height", "fov_degrees", "landmarks": N x [x, y, z] normalised as MediaPipe's landmarks
(x / width, y / height, z / width)}; each output line is {"matrix": 4 x 4} (the pose
transform matrix; null when MediaPipe returns no geometry). The environment is MediaPipe's:
origin top-left, perspective camera with the given vertical FOV, near 1, far 10000.
"""

import json
import sys

import numpy as np
from google.protobuf import text_format
from mediapipe.framework import calculator_pb2
from mediapipe.framework.formats import landmark_pb2
from mediapipe.python import packet_creator, packet_getter
from mediapipe.python._framework_bindings import calculator_graph, image_frame
from mediapipe.tasks.cc.vision.face_geometry.calculators import (
    geometry_pipeline_calculator_pb2 as calculator_options,
)
from mediapipe.tasks.cc.vision.face_geometry.proto import (
    environment_pb2,
    face_geometry_pb2,
    geometry_pipeline_metadata_pb2,
)

GRAPH = """
input_stream: "image"
input_stream: "landmarks"
input_side_packet: "environment"
output_stream: "geometry"
node {
  calculator: "ConcatenateLandmarListVectorCalculator"
  input_stream: "landmarks"
  output_stream: "multi_face_landmarks"
}
node {
  calculator: "ImagePropertiesCalculator"
  input_stream: "IMAGE:image"
  output_stream: "SIZE:image_size"
}
node {
  calculator: "mediapipe.tasks.vision.face_geometry.FaceGeometryPipelineCalculator"
  input_side_packet: "ENVIRONMENT:environment"
  input_stream: "IMAGE_SIZE:image_size"
  input_stream: "MULTI_FACE_LANDMARKS:multi_face_landmarks"
  output_stream: "MULTI_FACE_GEOMETRY:geometry"
}
"""


def main() -> None:
    with open(sys.argv[1]) as source:
        metadata = text_format.Parse(
            source.read(), geometry_pipeline_metadata_pb2.GeometryPipelineMetadata()
        )
    config = text_format.Parse(GRAPH, calculator_pb2.CalculatorGraphConfig())
    options = config.node[2].options.Extensions[
        calculator_options.FaceGeometryPipelineCalculatorOptions.ext
    ]
    options.metadata_file.file_content = metadata.SerializeToString()
    for timestamp, line in enumerate(sys.stdin):
        case = json.loads(line)
        environment = environment_pb2.Environment()
        environment.origin_point_location = environment_pb2.OriginPointLocation.TOP_LEFT_CORNER
        environment.perspective_camera.vertical_fov_degrees = case["fov_degrees"]
        environment.perspective_camera.near = 1.0
        environment.perspective_camera.far = 10000.0
        graph = calculator_graph.CalculatorGraph(graph_config=config)
        results: list = []

        def collect(_: object, packet: object, into: list = results) -> None:
            into.extend(packet_getter.get_proto_list(packet))

        graph.observe_output_stream("geometry", collect)
        graph.start_run(
            input_side_packets={"environment": packet_creator.create_proto(environment)}
        )
        image = image_frame.ImageFrame(
            image_format=image_frame.ImageFormat.SRGB,
            data=np.zeros((case["height"], case["width"], 3), np.uint8),
        )
        landmarks = landmark_pb2.NormalizedLandmarkList()
        for x, y, z in case["landmarks"]:
            landmarks.landmark.add(x=x, y=y, z=z)
        graph.add_packet_to_input_stream(
            "image", packet_creator.create_image_frame(image).at(timestamp)
        )
        graph.add_packet_to_input_stream(
            "landmarks", packet_creator.create_proto(landmarks).at(timestamp)
        )  # one list, made a one-face vector in-graph (the Python API has no proto vectors)
        graph.close()
        matrix = None
        if results:
            geometry = face_geometry_pb2.FaceGeometry()
            geometry.ParseFromString(results[0].SerializeToString())
            data = geometry.pose_transform_matrix
            values = np.array(data.packed_data, dtype=np.float64)
            shape = (data.rows, data.cols)
            # MatrixData is column-major unless it says row-major.
            order = "C" if data.layout == data.Layout.ROW_MAJOR else "F"
            matrix = values.reshape(shape, order=order).tolist()
        print(json.dumps({"matrix": matrix}), flush=True)


if __name__ == "__main__":
    main()
