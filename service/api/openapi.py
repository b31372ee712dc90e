"""OpenAPI additions that depend on settings, so the schema says what the server accepts
(a schema-driven fuzzer finds no mismatch):

* ``document_limits``: ``/v1/crops``' ``image`` array holds 1 to ``FACEMESH_MAX_BATCH_IMAGES``
  files; ``?model=`` lists only the loaded pipelines and ``?detector=`` only the loaded
  detectors (the others are a 422);
* ``document_api_keys``: with ``FACEMESH_API_KEYS`` set, every ``/v1`` operation is
  documented as needing one of the two schemes (``X-API-Key`` header or ``Authorization:
  Bearer``) and as answering 401 ``unauthorized``; without keys the document says nothing
  about authentication (there is none).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from service.core.config import Settings

API_KEY_SCHEMES: dict[str, dict[str, Any]] = {
    "ApiKeyHeader": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "One of FACEMESH_API_KEYS. Send it once: a repeated header is refused.",
    },
    "BearerApiKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "The same key as `Authorization: Bearer <key>`.",
    },
}
UNAUTHORIZED_RESPONSE: dict[str, Any] = {
    "description": "Missing, invalid or repeated API key (`unauthorized`; with "
    "`WWW-Authenticate: Bearer`).",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
}


def _restrict_enum(schema: dict[str, Any], allowed: list[str]) -> None:
    """Keep only ``allowed`` in every ``enum`` of a parameter schema (``anyOf`` included)."""
    for part in [schema, *schema.get("anyOf", [])]:
        if "enum" in part:
            part["enum"] = [value for value in part["enum"] if value in allowed]


def document_limits(app: FastAPI, settings: Settings) -> None:
    """Make ``app.openapi()`` state the batch limit and the loaded pipelines and detectors
    (read from the running services when the schema is first built after start-up)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        services = getattr(app.state, "services", None)
        loaded: dict[str, list[str]] = {"model": list(settings.loaded_pipelines)}
        if services is not None:
            loaded["detector"] = services.detectors.kinds
        for path, operations in schema.get("paths", {}).items():
            for operation in operations.values():
                for parameter in operation.get("parameters", []):
                    if parameter.get("in") == "query" and parameter.get("name") in loaded:
                        _restrict_enum(parameter.get("schema", {}), loaded[parameter["name"]])
                if path == "/v1/crops":
                    content = operation.get("requestBody", {}).get("content", {})
                    for media in content.values():
                        image = media.get("schema", {}).get("properties", {}).get("image")
                        if image is not None and image.get("type") == "array":
                            image["minItems"] = 1
                            image["maxItems"] = settings.max_batch_images
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def document_api_keys(app: FastAPI) -> None:
    """Make ``app.openapi()`` document the API-key schemes and 401 on the ``/v1`` routes."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        components = schema.setdefault("components", {})
        components.setdefault("securitySchemes", {}).update(API_KEY_SCHEMES)
        for path, operations in schema.get("paths", {}).items():
            if not path.startswith("/v1/"):
                continue
            for operation in operations.values():
                operation["security"] = [{name: []} for name in API_KEY_SCHEMES]
                operation.setdefault("responses", {})["401"] = UNAUTHORIZED_RESPONSE
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
