"""HTTP layer: routes, request parsing and the pydantic response schemas."""
