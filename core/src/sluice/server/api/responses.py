"""JSON answers built straight from the response models.

Endpoints return ``model_response(...)`` rather than a model: FastAPI then skips validating the
model again and serialising it in a second thread-pool hop, which halves the cost of a small
request. The ``response_model`` of each route still documents the answer in the OpenAPI schema.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, TypeVar

from fastapi import Response
from pydantic import BaseModel, ValidationError

JSON = "application/json"
M = TypeVar("M", bound=BaseModel)
logger = logging.getLogger("sluice.server")


def already_there(model: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of a create route that is idempotent: 200 with the stored object."""
    return {200: {"model": model, "description": "It exists already: the stored object, unchanged or updated"}}


def repaired_model(model: type[M], row: Any, what: str) -> M:
    """``model`` of a row that did not validate as stored, its unfit fields at their defaults.

    For reads: a corrupt row is shown (and can be deleted) rather than failing every list that holds
    it. The fields left out are logged. A required field that does not fit still raises.
    """
    values = {name: getattr(row, name) for name in model.model_fields if hasattr(row, name)}
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        unfit = {str(error["loc"][0]) for error in exc.errors() if error.get("loc")}
    logger.warning(
        "%s holds stored values the API cannot show (%s): answered with defaults", what, ", ".join(sorted(unfit))
    )
    return model.model_validate({name: value for name, value in values.items() if name not in unfit})


def model_json(value: BaseModel) -> bytes:
    """A model as JSON bytes."""
    return value.__pydantic_serializer__.to_json(value)


def model_response(value: BaseModel | Sequence[BaseModel], status_code: int = 200) -> Response:
    """A JSON response holding a model or a list of models."""
    if isinstance(value, BaseModel):
        body = model_json(value)
    else:
        body = b"[" + b",".join(model_json(item) for item in value) + b"]"
    return Response(content=body, status_code=status_code, media_type=JSON)
