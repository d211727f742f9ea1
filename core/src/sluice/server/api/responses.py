"""JSON answers built straight from the response models.

Endpoints return ``model_response(...)`` rather than a model: FastAPI then skips validating the
model again and serialising it in a second thread-pool hop, which halves the cost of a small
request. The ``response_model`` of each route still documents the answer in the OpenAPI schema.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import Response
from pydantic import BaseModel

JSON = "application/json"


def model_response(value: BaseModel | Sequence[BaseModel], status_code: int = 200) -> Response:
    """A JSON response holding a model or a list of models."""
    if isinstance(value, BaseModel):
        body = value.__pydantic_serializer__.to_json(value)
    else:
        body = b"[" + b",".join(item.__pydantic_serializer__.to_json(item) for item in value) + b"]"
    return Response(content=body, status_code=status_code, media_type=JSON)
