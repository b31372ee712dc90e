"""Assembles the routers; nothing else."""

from __future__ import annotations

from fastapi import APIRouter

from service.api.routes import crops, frames, health

api_router = APIRouter()
api_router.include_router(crops.router)
api_router.include_router(health.router)
api_router.include_router(frames.router)
