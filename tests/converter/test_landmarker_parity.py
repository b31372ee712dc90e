"""FaceLandmarker's models converted to ONNX against the authors' .tflite run by the TFLite
interpreter (goldens in tests/data, written by tools/oracle/landmarker_goldens.py), and the
blendshape model against FaceLandmarker end to end."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import openvino as ov
import pytest

from converter.driver import convert
from converter.models import SPECS
from converter.source import fetch_tflite
from converter.tflite_model import read_tflite
from service.contract import (
    BLENDSHAPE_INPUT_NAME,
    DETECTION_EYES,
    FACE_ROTATION,
    LANDMARKER_DETECTION_ROI_SCALE,
    LANDMARKER_DETECTION_ROI_SQUARE,
    LANDMARKER_INPUT_SIZE,
    LANDMARKER_SPEC,
)
from service.inference.runtime import Runtime, RuntimeOptions, open_runtime
from service.processing.decode import decode_image
from service.processing.detection import letterbox, postprocess_detections
from service.processing.roi import rotation_from
from service.processing.warp import RotatedRect, crop_to_frame, warp_rect
from tests.converter.conftest import CACHE, DATA
from tools.oracle.landmarker_goldens import (
    blendshape_points,
    clip_frames,
    crop_256,
    pixels_sha256,
)

LANDMARK_PX = 0.01  # px of the 256x256 input
SCORE = 1e-4  # face presence, tongue-out and blendshape scores
IMAGE_MODE_IOD = 0.005  # FaceLandmarker's x, y per face, share of the inter-ocular distance
IMAGE_MODE_Z_IOD = 0.01  # its z, same units


@pytest.fixture(scope="module", params=["openvino", "onnxruntime"])
def landmarker_runtime(
    request: pytest.FixtureRequest,
    landmarker_onnx: onnx.ModelProto,
    tmp_path_factory: pytest.TempPathFactory,
) -> Runtime:
    """The freshly converted landmark model on one runtime, as the service loads it."""
    path = tmp_path_factory.mktemp(request.param) / "model.onnx"
    onnx.save(landmarker_onnx, path)
    options = RuntimeOptions(runtime=request.param, device="cpu", threads=2)
    runtime = open_runtime(path, LANDMARKER_SPEC, options)
    assert runtime.name == request.param  # no silent fallback
    return runtime


def test_landmark_model_matches_the_tflite_interpreter(
    landmarker_runtime: Runtime, landmarker_goldens: dict[str, dict[str, Any]]
) -> None:
    goldens = landmarker_goldens["models"]["landmark_model"]
    images = np.stack([crop_256(DATA / g["file"]) for g in goldens])
    provenance = landmarker_goldens["models"]["provenance"]
    assert pixels_sha256(list(images)) == provenance["landmark_input_pixels_sha256"]
    got = landmarker_runtime.run(images)
    faces = [i for i, g in enumerate(goldens) if g["landmarks"] is not None]
    want = np.array([goldens[i]["landmarks"] for i in faces])
    landmark_error = np.abs(got["landmarks"][faces] - want).max()
    score_error = np.abs(got["face_score"] - [g["face_score"] for g in goldens]).max()
    tongue_error = np.abs(got["tongue_out"] - [g["tongue_out"] for g in goldens]).max()
    print(
        f"\n{landmarker_runtime.name}: {len(faces)} face crops, {len(goldens)} crops in all; "
        f"max |d| landmarks {landmark_error:.5f} px256, face_score {score_error:.2e}, "
        f"tongue_out {tongue_error:.2e}"
    )
    assert landmark_error <= LANDMARK_PX
    assert score_error <= SCORE and tongue_error <= SCORE
    nonfaces = [g["face_score"] for g in goldens if g["landmarks"] is None]
    assert nonfaces and max(nonfaces) < 0.5  # the nonfaces are told apart, as by the model


BlendshapeRunner = tuple[str, Callable[[np.ndarray], np.ndarray]]  # runtime, points -> scores


@pytest.fixture(scope="module", params=["openvino", "onnxruntime"])
def blendshape_runner(
    request: pytest.FixtureRequest,
    blendshapes_onnx: onnx.ModelProto,
    tmp_path_factory: pytest.TempPathFactory,
) -> BlendshapeRunner:
    """points [N, 146, 2] -> scores [N, 52] with the freshly converted model on one runtime
    (OpenVINO in f32, as the service pins it)."""
    if request.param == "onnxruntime":
        options = ort.SessionOptions()
        options.intra_op_num_threads = 2
        session = ort.InferenceSession(
            blendshapes_onnx.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        return request.param, lambda points: session.run(None, {BLENDSHAPE_INPUT_NAME: points})[0]
    path = tmp_path_factory.mktemp("openvino") / "model.onnx"
    onnx.save(blendshapes_onnx, path)
    compiled = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    return request.param, lambda points: compiled(np.ascontiguousarray(points))[0]


def _golden_faces(goldens: dict[str, dict[str, Any]]) -> dict[str, tuple[np.ndarray, list[float]]]:
    """label -> (the blendshape model's points, FaceLandmarker's own scores), for every face of
    the frame and clip goldens (labels as in the model goldens)."""
    faces = {}
    for frame in goldens["frames"]["frames"]:
        for k, face in enumerate(frame["faces"]):
            points = blendshape_points(face["landmarks"], frame["width"], frame["height"])
            faces[f"{frame['file']}#{k}"] = (points, face["blendshapes"])
    clip = goldens["clip"]["clip"]
    for entry in goldens["clip"]["frames"]:
        for k, face in enumerate(entry["faces"]):
            points = blendshape_points(face["landmarks"], clip["width"], clip["height"])
            faces[f"clip/{entry['frame']}#{k}"] = (points, face["blendshapes"])
    return faces


def test_blendshape_model_matches_the_tflite_interpreter(
    blendshape_runner: BlendshapeRunner, landmarker_goldens: dict[str, dict[str, Any]]
) -> None:
    faces = _golden_faces(landmarker_goldens)
    goldens = landmarker_goldens["models"]["blendshape_model"]
    assert [g["face"] for g in goldens] == list(faces)
    points = np.stack([faces[g["face"]][0] for g in goldens])
    runtime, run = blendshape_runner
    got = run(points)
    error = np.abs(got - np.array([g["scores"] for g in goldens]))
    print(
        f"\n{runtime}: {len(goldens)} faces x 52: max |d| {error.max():.2e}, "
        f"mean {error.mean():.2e}"
    )
    assert error.max() <= SCORE


def test_blendshape_model_fed_facelandmarkers_landmarks_gives_its_scores(
    blendshape_runner: BlendshapeRunner, landmarker_goldens: dict[str, dict[str, Any]]
) -> None:
    """FaceLandmarker's own landmarks (pixels of the whole image, IMAGE and VIDEO mode) through
    the converted model reproduce FaceLandmarker's blendshapes."""
    faces = _golden_faces(landmarker_goldens)
    points = np.stack([points for points, _ in faces.values()])
    runtime, run = blendshape_runner
    got = run(points)
    error = np.abs(got - np.array([scores for _, scores in faces.values()]))
    print(
        f"\n{runtime}: {len(faces)} FaceLandmarker faces: max |d| {error.max():.2e}, "
        f"mean {error.mean():.2e}"
    )
    assert len(faces) >= 20
    assert error.max() <= SCORE


def test_clip_frames_are_the_ones_the_goldens_were_made_from(
    landmarker_goldens: dict[str, dict[str, Any]],
) -> None:
    clip = landmarker_goldens["clip"]["clip"]
    frames = clip_frames(clip)
    assert len(frames) == clip["frames"] == len(landmarker_goldens["clip"]["frames"])
    assert frames[0].shape == (clip["height"], clip["width"], 3)
    assert pixels_sha256(frames) == clip["pixels_sha256"]
    assert all(entry["faces"] for entry in landmarker_goldens["clip"]["frames"])


def test_facelandmarkers_roi_rule_reproduces_its_image_mode(
    landmarker_runtime: Runtime, landmarker_goldens: dict[str, dict[str, Any]]
) -> None:
    """The ROI rule docs/landmarker.md states (detection box scaled by 1.5, not squared,
    rotated by the eye keypoints, stretched to 256x256 with the border replicated), run with
    the service's short-range detector (the bundle's detector network: same weights) and the
    converted landmark model, gives FaceLandmarker's image-mode landmarks. z: FaceLandmarker
    scales the model's z by the length of the ROI's width vector measured in normalised image
    units (x / width, y / height), i.e. by ROI width x sqrt(cos^2 r + (W/H)^2 sin^2 r) in
    pixels: not the ROI's pixel width once a turned ROI sits in a non-square image."""
    detector = ort.InferenceSession(
        convert(
            read_tflite(fetch_tflite("face_detection_short_range", CACHE)),
            SPECS["face_detection_short_range"],
        ).SerializeToString(),
        providers=["CPUExecutionProvider"],
    )
    size = LANDMARKER_INPUT_SIZE
    errors, z_errors = [], []
    for frame in landmarker_goldens["frames"]["frames"]:
        if not frame["faces"]:
            continue
        image = decode_image((DATA / frame["file"]).read_bytes(), min_side=1, max_pixels=10**8)
        height, width = image.shape[:2]
        raw = detector.run(["regressors", "classificators"], {"image": letterbox(image)[None]})
        rects = []
        for detection in postprocess_detections(raw[0][0], raw[1][0], width, height):
            xmin, ymin, box_w, box_h = (float(v) for v in detection.box)
            centre_x, centre_y = xmin + box_w / 2, ymin + box_h / 2
            if LANDMARKER_DETECTION_ROI_SQUARE:
                box_w = box_h = max(box_w, box_h)
            eyes = detection.keypoints[list(DETECTION_EYES)]
            rects.append(
                RotatedRect(
                    centre_x,
                    centre_y,
                    box_w * LANDMARKER_DETECTION_ROI_SCALE,
                    box_h * LANDMARKER_DETECTION_ROI_SCALE,
                    rotation_from(eyes[0], eyes[1]),
                )
            )
        crops = np.stack([warp_rect(image, rect, size, size, "replicate") for rect in rects])
        landmarks = landmarker_runtime.run(crops)["landmarks"]
        for face in frame["faces"]:
            want = np.array(face["landmarks"]) * [width, height, width]
            iod = float(np.linalg.norm(want[FACE_ROTATION[0], :2] - want[FACE_ROTATION[1], :2]))
            found = []
            for rect, points in zip(rects, landmarks, strict=True):
                to_frame = crop_to_frame(rect, size, size)
                xy = points[:, :2] @ to_frame[:2, :2].T + to_frame[:2, 2]
                turn = rect.rotation
                stretch = np.hypot(np.cos(turn), width / height * np.sin(turn))
                z = points[:, 2] * rect.width * stretch / size
                found.append((float(np.linalg.norm(xy - want[:, :2], axis=1).max()), z))
            best, z = min(found, key=lambda item: item[0])  # the detection of this face
            errors.append(best / iod)
            z_errors.append(float(np.abs(z - want[:, 2]).max()) / iod)
    print(
        f"\n{landmarker_runtime.name}: {len(errors)} faces, worst point per face at most "
        f"{max(errors):.2%} of the inter-ocular distance (z {max(z_errors):.2%})"
    )
    assert len(errors) == 14
    assert max(errors) <= IMAGE_MODE_IOD
    assert max(z_errors) <= IMAGE_MODE_Z_IOD
