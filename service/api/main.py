"""Assembles the routers; nothing else. The /v1 routes sit behind the API-key check (and,
once their body is in, the admission queue: ``service.api.guards``); health routes do not."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from service.api.guards import require_api_key
from service.api.routes import crops, frames, health, track

V1_GUARDS = [Depends(require_api_key)]

api_router = APIRouter()
api_router.include_router(crops.router, dependencies=V1_GUARDS)
api_router.include_router(health.router)
api_router.include_router(frames.router, dependencies=V1_GUARDS)
api_router.include_router(track.router, dependencies=V1_GUARDS)
