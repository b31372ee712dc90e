"""OpenAPI additions that depend on settings: the API-key security scheme and its 401.

With ``FACEMESH_API_KEYS`` set, every ``/v1`` operation is documented as needing one of the
two schemes (``X-API-Key`` header or ``Authorization: Bearer``) and as answering 401
``unauthorized``; without keys the document says nothing about authentication (there is
none).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

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
