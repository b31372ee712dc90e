"""MediaPipe's full-range face detection on whole images (the oracle for the full-range
detector's goldens).

Runs inside the oracle virtualenv (mediapipe==0.10.21, numpy<2), never in the service's:
``python mediapipe_full_range.py IMAGE...`` prints one JSON line per image, in order:
{"path", "width", "height", "detections": [{"box": [xmin, ymin, width, height],
"keypoints": 6 x [x, y], "score"}]} with coordinates normalised to the image, as
``mp.solutions.face_detection.FaceDetection(model_selection=1)`` (the
``FaceDetectionFullRangeCpu`` graph, min_detection_confidence 0.5) returns them.
"""

import json
import sys

import cv2
import mediapipe as mp


def main() -> None:
    detector = mp.solutions.face_detection.FaceDetection(
        model_selection=1, min_detection_confidence=0.5
    )
    for path in sys.argv[1:]:
        image = cv2.cvtColor(cv2.imread(path, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        result = detector.process(image)
        detections = []
        for detection in result.detections or []:
            data = detection.location_data
            box = data.relative_bounding_box
            detections.append(
                {
                    "box": [box.xmin, box.ymin, box.width, box.height],
                    "keypoints": [[k.x, k.y] for k in data.relative_keypoints],
                    "score": float(detection.score[0]),
                }
            )
        height, width = image.shape[:2]
        print(
            json.dumps({"path": path, "width": width, "height": height, "detections": detections}),
            flush=True,
        )
    detector.close()


if __name__ == "__main__":
    main()
