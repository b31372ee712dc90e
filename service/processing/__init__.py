"""Array maths shared by every inference backend and pipeline; no model calls, no Settings
(every default and limit comes in as an argument). NumPy throughout, with Pillow,
simplejpeg and OpenCV where they decode or warp pixels.

header:           an image's header read in bounded work (format, size, mode, orientation)
decode:           image bytes -> uint8 [H, W, 3] RGB, with the size checks and a memory estimate
preprocess:       uint8 [H, W, 3] -> uint8 [192, 192, 3] model input + the transform back
postprocess:      model outputs (px192) -> results in the posted image's pixels (``project``)
detection:        face-detector letterbox, SSD anchors, box decoding, weighted NMS
roi:              ROIs from detections and landmarks, and their association across frames
warp:             rotated-rectangle warp of a frame to the model input, and its inverse
iris_refinement:  the cascade's eye crops, iris-model projection and merge
face_geometry:    head pose (MediaPipe's face geometry pipeline); data in ``data/``
gaze:             gaze per eye and the distance from the iris size
landmarker:       FaceLandmarker's rules around its landmark model (outputs, ROIs)
blendshapes:      landmarks -> the blendshape model's input points
"""
