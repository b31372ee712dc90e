"""Typed dependency aliases that keep route signatures short."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from service.core.config import Settings
from service.pipeline import FaceMeshPipeline


def get_app_settings(request: Request) -> Settings:
    """The ``Settings`` the app was built with (``create_app(settings)``)."""
    return cast(Settings, request.app.state.settings)


def get_pipeline(request: Request) -> FaceMeshPipeline:
    """The pipeline created by the app's lifespan."""
    return cast(FaceMeshPipeline, request.app.state.pipeline)


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
PipelineDep = Annotated[FaceMeshPipeline, Depends(get_pipeline)]
