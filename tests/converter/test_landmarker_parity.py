"""FaceLandmarker's models converted to ONNX against the authors' .tflite run by the TFLite
interpreter (goldens in tests/data, written by tools/oracle/landmarker_goldens.py), and the
blendshape model against FaceLandmarker end to end."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
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
    LANDMARKER_SMOOTHING_BETA,
    LANDMARKER_SMOOTHING_DERIVATE_CUTOFF,
    LANDMARKER_SMOOTHING_MIN_CUTOFF,
    LANDMARKER_SMOOTHING_START_RATE,
    LANDMARKER_SPEC,
    LANDMARKER_TRACKING_ROI_SCALE,
    LANDMARKER_TRACKING_ROI_SQUARE,
)
from service.inference.runtime import Runtime, RuntimeOptions, open_runtime
from service.processing.decode import decode_image
from service.processing.detection import letterbox, postprocess_detections
from service.processing.roi import rotation_from
from service.processing.warp import RotatedRect, crop_to_frame, warp_rect
from service.tracking.smoothing import OneEuroFilter, OneEuroParams, face_scale
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


@pytest.fixture(scope="module")
def short_range_detector() -> ort.InferenceSession:
    """The service's short-range detector, freshly converted (the bundle's detector network:
    same weights, see test_registry)."""
    model = convert(
        read_tflite(fetch_tflite("face_detection_short_range", CACHE)),
        SPECS["face_detection_short_range"],
    )
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _detection_rois(detector: ort.InferenceSession, image: np.ndarray) -> list[RotatedRect]:
    """FaceLandmarker's ROI per detection: the box scaled by 1.5 (squared only if the contract
    says so), rotated by the eye keypoints."""
    height, width = image.shape[:2]
    raw = detector.run(["regressors", "classificators"], {"image": letterbox(image)[None]})
    rects = []
    for detection in postprocess_detections(raw[0][0], raw[1][0], width, height):
        xmin, ymin, box_w, box_h = (float(v) for v in detection.box)
        centre_x, centre_y = xmin + box_w / 2, ymin + box_h / 2
        if LANDMARKER_DETECTION_ROI_SQUARE:
            box_w = box_h = max(box_w, box_h)
        eyes = detection.keypoints[list(DETECTION_EYES)]
        scale = LANDMARKER_DETECTION_ROI_SCALE
        rects.append(
            RotatedRect(
                centre_x, centre_y, box_w * scale, box_h * scale, rotation_from(eyes[0], eyes[1])
            )
        )
    return rects


def _tracking_roi(landmarks: np.ndarray) -> RotatedRect:
    """FaceLandmarker's next ROI from the last (unsmoothed) landmarks, frame pixels."""
    low, high = landmarks[:, :2].min(axis=0), landmarks[:, :2].max(axis=0)
    size, centre = high - low, (high + low) / 2
    side_w, side_h = (max(size),) * 2 if LANDMARKER_TRACKING_ROI_SQUARE else size
    scale = LANDMARKER_TRACKING_ROI_SCALE
    rotation = rotation_from(landmarks[FACE_ROTATION[0]], landmarks[FACE_ROTATION[1]])
    return RotatedRect(float(centre[0]), float(centre[1]), side_w * scale, side_h * scale, rotation)


def _landmarks_in_frame(
    runtime: Runtime, image: np.ndarray, rects: list[RotatedRect]
) -> list[np.ndarray]:
    """[478, 3] per ROI in frame pixels; z as FaceLandmarker scales it (times the image width):
    by the length of the ROI's width vector in normalised image units (x / W, y / H), i.e. the
    ROI's pixel width times sqrt(cos^2 r + (W/H)^2 sin^2 r)."""
    size = LANDMARKER_INPUT_SIZE
    height, width = image.shape[:2]
    crops = np.stack([warp_rect(image, rect, size, size, "replicate") for rect in rects])
    found = []
    for rect, points in zip(rects, runtime.run(crops)["landmarks"], strict=True):
        to_frame = crop_to_frame(rect, size, size)
        xy = points[:, :2] @ to_frame[:2, :2].T + to_frame[:2, 2]
        stretch = np.hypot(np.cos(rect.rotation), width / height * np.sin(rect.rotation))
        found.append(np.column_stack([xy, points[:, 2] * rect.width * stretch / size]))
    return found


def _share_of_iod(got: np.ndarray, want: np.ndarray) -> tuple[float, float]:
    """Worst point's x, y distance and worst z difference, as shares of the inter-ocular
    distance (landmarks 33 and 263 of ``want``)."""
    iod = float(np.linalg.norm(want[FACE_ROTATION[0], :2] - want[FACE_ROTATION[1], :2]))
    xy = float(np.linalg.norm(got[:, :2] - want[:, :2], axis=1).max())
    return xy / iod, float(np.abs(got[:, 2] - want[:, 2]).max()) / iod


def test_facelandmarkers_roi_rule_reproduces_its_image_mode(
    landmarker_runtime: Runtime,
    short_range_detector: ort.InferenceSession,
    landmarker_goldens: dict[str, dict[str, Any]],
) -> None:
    """The image-mode rules docs/landmarker.md states (detection box scaled by 1.5, turned by
    the eye keypoints, stretched to 256x256 with the border replicated; z's scale), run with
    the service's detector and warp and the converted landmark model, give FaceLandmarker's
    image-mode landmarks."""
    errors, z_errors = [], []
    for frame in landmarker_goldens["frames"]["frames"]:
        if not frame["faces"]:
            continue
        image = decode_image((DATA / frame["file"]).read_bytes(), min_side=1, max_pixels=10**8)
        height, width = image.shape[:2]
        found = _landmarks_in_frame(
            landmarker_runtime, image, _detection_rois(short_range_detector, image)
        )
        for face in frame["faces"]:
            want = np.array(face["landmarks"]) * [width, height, width]
            xy, z = min(_share_of_iod(got, want) for got in found)  # this face's detection
            errors.append(xy)
            z_errors.append(z)
    print(
        f"\n{landmarker_runtime.name}: {len(errors)} faces, worst point per face at most "
        f"{max(errors):.2%} of the inter-ocular distance (z {max(z_errors):.2%})"
    )
    assert len(errors) == 14
    assert max(errors) <= IMAGE_MODE_IOD
    assert max(z_errors) <= IMAGE_MODE_Z_IOD


def test_facelandmarkers_tracking_rules_reproduce_its_video_mode(
    landmarker_runtime: Runtime,
    short_range_detector: ort.InferenceSession,
    landmarker_goldens: dict[str, dict[str, Any]],
) -> None:
    """The video-mode rules docs/landmarker.md states, on the golden clip: frame 0 from the
    detection, every later frame from the ROI of the previous frame's raw landmarks (squared,
    x1.5, turned by 33 -> 263), then MediaPipe's one-euro smoothing (the service's filter with
    FaceLandmarker's parameters; the rate from the timestamps, 30 Hz after a frame stamped 0)."""
    clip = landmarker_goldens["clip"]["clip"]
    frames = clip_frames(clip)
    stamps_ms = [round(index * 1000.0 / clip["fps"]) for index in range(len(frames))]
    params = OneEuroParams(
        LANDMARKER_SMOOTHING_MIN_CUTOFF,
        LANDMARKER_SMOOTHING_BETA,
        LANDMARKER_SMOOTHING_DERIVATE_CUTOFF,
        LANDMARKER_SMOOTHING_START_RATE,
    )
    smoother = OneEuroFilter(params)
    previous: np.ndarray | None = None
    errors = []
    for index, (image, entry) in enumerate(
        zip(frames, landmarker_goldens["clip"]["frames"], strict=True)
    ):
        if previous is None:
            rect = _detection_rois(short_range_detector, image)[0]
        else:
            rect = _tracking_roi(previous)
        (raw,) = _landmarks_in_frame(landmarker_runtime, image, [rect])
        previous = raw
        if index >= 2:  # the rate follows the timestamps once the previous one is not 0
            rate = 1000.0 / (stamps_ms[index] - stamps_ms[index - 1])
            smoother.params = replace(params, frame_rate=rate)
        smoothed = smoother(raw, 1.0 / face_scale(raw))
        want = np.array(entry["faces"][0]["landmarks"]) * [clip["width"], clip["height"], 1]
        errors.append(_share_of_iod(smoothed, want)[0])
    print(
        f"\n{landmarker_runtime.name}: {len(errors)} clip frames, worst point per frame at most "
        f"{max(errors):.2%} of the inter-ocular distance"
    )
    assert max(errors) <= IMAGE_MODE_IOD
