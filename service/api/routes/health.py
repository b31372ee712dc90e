"""``GET /healthz`` (process alive) and ``GET /readyz`` (model loaded and answering); both
answer ``HEAD`` like ``GET`` (no body), as load balancers probe."""

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


# HEAD like GET (headers, no body); left out of the schema, where it would repeat GET.
for _path, _endpoint in (("/healthz", healthz), ("/readyz", readyz)):
    router.add_api_route(
        _path,
        _endpoint,
        methods=["HEAD"],
        response_model=schemas.HealthResponse,
        include_in_schema=False,
    )
