"""MediaPipe Tasks' FaceLandmarker on images or a clip: the oracle for the landmarker goldens.

Runs inside the oracle virtualenv (mediapipe==0.10.21, numpy<2), never in the service's:
``python mediapipe_face_landmarker.py TASK MODE NUM_FACES FPS IMAGE...`` with MODE ``image``
(each image on its own, ``RunningMode.IMAGE``) or ``video`` (the images are consecutive frames
at FPS, ``RunningMode.VIDEO``). Prints one JSON line per image, in order: {"path", "width",
"height", "faces": [{"landmarks": 478 x [x, y, z], "blendshapes": 52 scores}]} with the
landmarks normalised as FaceLandmarker returns them (x / width, y / height, z on the x scale)
and the blendshape scores in the model's order (their names are checked against
``BLENDSHAPE_NAMES`` by the caller: the first line is {"names": [...]}). Default confidences
(0.5 each), ``output_face_blendshapes=True``.
"""

import json
import sys

import cv2
import mediapipe as mp
from mediapipe.tasks.python import BaseOptions, vision


def main() -> None:
    task, mode, num_faces, fps = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    running_mode = vision.RunningMode.IMAGE if mode == "image" else vision.RunningMode.VIDEO
    options = vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=task),
        running_mode=running_mode,
        num_faces=num_faces,
        output_face_blendshapes=True,
    )
    names = None
    with vision.FaceLandmarker.create_from_options(options) as landmarker:
        for index, path in enumerate(sys.argv[5:]):
            rgb = cv2.cvtColor(cv2.imread(path, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
            image = mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb)
            if mode == "image":
                result = landmarker.detect(image)
            else:
                result = landmarker.detect_for_video(image, round(index * 1000.0 / fps))
            faces = []
            for landmarks, blendshapes in zip(
                result.face_landmarks, result.face_blendshapes, strict=True
            ):
                if names is None:
                    names = [c.category_name for c in blendshapes]
                    print(json.dumps({"names": names}), flush=True)
                faces.append(
                    {
                        "landmarks": [[p.x, p.y, p.z] for p in landmarks],
                        "blendshapes": [c.score for c in blendshapes],
                    }
                )
            height, width = rgb.shape[:2]
            line = {"path": path, "width": width, "height": height, "faces": faces}
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
