"""MediaPipe Tasks' FaceLandmarker in process, for ``benchmarks/landmarker.py``.

Runs inside the oracle virtualenv (mediapipe==0.10.21):
``python face_landmarker_worker.py TASK MODE NUM_FACES IMAGE...`` with MODE ``image``
(``RunningMode.IMAGE``: each image on its own) or ``video`` (``RunningMode.VIDEO``: the images
are consecutive frames, 30 fps, looping across rounds). Blendshapes on. Protocol on
stdin/stdout, one line each (as ``mediapipe_worker.py``): prints "ready" once loaded; each
"round" line runs every image once and answers {"cpu": [CPU ms per image], "faces": [face
count per image]} (decode excluded: the images are decoded once, at start; CPU time counts
MediaPipe's own threads); "quit" ends.
"""

import json
import sys
import time

import cv2
import mediapipe as mp
from mediapipe.tasks.python import BaseOptions, vision


def main() -> None:
    task, mode, num_faces = sys.argv[1], sys.argv[2], int(sys.argv[3])
    options = vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=task),
        running_mode=vision.RunningMode.IMAGE if mode == "image" else vision.RunningMode.VIDEO,
        num_faces=num_faces,
        output_face_blendshapes=True,
    )
    images = []
    for path in sys.argv[4:]:
        rgb = cv2.cvtColor(cv2.imread(path, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        images.append(mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb))
    frame = 0
    with vision.FaceLandmarker.create_from_options(options) as landmarker:
        print("ready", flush=True)
        for line in sys.stdin:
            if line.strip() != "round":
                break
            cpu, faces = [], []
            for image in images:
                start = time.process_time()
                if mode == "image":
                    result = landmarker.detect(image)
                else:
                    result = landmarker.detect_for_video(image, round(frame * 1000 / 30))
                    frame += 1
                cpu.append((time.process_time() - start) * 1e3)
                faces.append(len(result.face_landmarks))
            print(json.dumps({"cpu": cpu, "faces": faces}), flush=True)


if __name__ == "__main__":
    main()
