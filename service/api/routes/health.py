"""``GET /healthz`` (process alive) and ``GET /readyz`` (model loaded and answering)."""

from __future__ import annotations

from fastapi import APIRouter

from service.api import schemas
from service.api.deps import CropPipelineDep
from service.core.errors import BackendUnavailable

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=schemas.HealthResponse)
async def healthz() -> schemas.HealthResponse:
    return schemas.HealthResponse(status="ok")


@router.get(
    "/readyz",
    response_model=schemas.HealthResponse,
    responses={503: {"model": schemas.ErrorResponse, "description": "Model not ready."}},
)
async def readyz(pipeline: CropPipelineDep) -> schemas.HealthResponse:
    if not await pipeline.is_ready():
        raise BackendUnavailable(f"backend {pipeline.backend.name!r} is not ready")
    return schemas.HealthResponse(status="ready")
