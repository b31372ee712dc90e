"""Typed dependency aliases that keep route signatures short.

The dependencies are ``async def``: they only read app state, and FastAPI would run plain
``def`` dependencies in the threadpool (a thread hop per dependency per request).
"""

from __future__ import annotations

from typing import Annotated, Literal, cast

from fastapi import Depends, Query, Request
from fastapi.exceptions import RequestValidationError

from service.core.config import Settings
from service.pipeline import FaceMeshPipeline


async def get_app_settings(request: Request) -> Settings:
    """The ``Settings`` the app was built with (``create_app(settings)``)."""
    return cast(Settings, request.app.state.settings)


async def get_pipeline(
    request: Request,
    model: Annotated[
        Literal["attention", "cascade"] | None,
        Query(
            description="Pipeline: `attention` (fused Attention Mesh) or `cascade` (468-point "
            "mesh + iris model per eye); default `FACEMESH_MODEL`. Only the pipelines loaded "
            "at start-up (`FACEMESH_MODEL`, `FACEMESH_MODELS`) can be chosen.",
        ),
    ] = None,
) -> FaceMeshPipeline:
    """The pipeline the request asks for (``?model=``), else the default one."""
    if model is None:
        return cast(FaceMeshPipeline, request.app.state.pipeline)
    pipelines = cast(dict[str, FaceMeshPipeline], request.app.state.pipelines)
    if model not in pipelines:
        message = f"pipeline {model!r} is not loaded; loaded: {', '.join(pipelines)}"
        raise RequestValidationError(
            [{"loc": ("query", "model"), "msg": message, "type": "value_error"}]
        )
    return pipelines[model]


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
PipelineDep = Annotated[FaceMeshPipeline, Depends(get_pipeline)]
