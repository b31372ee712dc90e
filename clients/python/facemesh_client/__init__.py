"""Python client for the face-mesh gateway: ``Client`` (blocking) and ``AsyncClient``.

from facemesh_client import Client

with Client("http://localhost:8000") as client:
    face = client.crop("face.png").faces[0]
    print(face.score, face.landmarks.shape, face.regions.lips.affine)
"""

from facemesh_client import errors
from facemesh_client.async_client import AsyncClient
from facemesh_client.client import Client
from facemesh_client.errors import (
    BackendUnavailable,
    FacemeshError,
    InvalidImage,
    InvalidRequest,
    Overloaded,
    RetryableError,
    ServerError,
    SessionClosed,
    Unauthorized,
)
from facemesh_client.images import ImageInput, encode_png
from facemesh_client.results import (
    BLENDSHAPE_NAMES,
    Detection,
    Face,
    FacesResult,
    FrameFace,
    FrameResult,
    Gaze,
    GazeRay,
    ImageSize,
    IrisDistance,
    ModelInfo,
    Pose,
    Region,
    Regions,
    Roi,
)

__all__ = [
    "BLENDSHAPE_NAMES",
    "AsyncClient",
    "BackendUnavailable",
    "Client",
    "Detection",
    "Face",
    "FacemeshError",
    "FacesResult",
    "FrameFace",
    "FrameResult",
    "Gaze",
    "GazeRay",
    "ImageInput",
    "ImageSize",
    "InvalidImage",
    "InvalidRequest",
    "IrisDistance",
    "ModelInfo",
    "Overloaded",
    "Pose",
    "Region",
    "Regions",
    "RetryableError",
    "Roi",
    "ServerError",
    "SessionClosed",
    "Unauthorized",
    "encode_png",
    "errors",
]
