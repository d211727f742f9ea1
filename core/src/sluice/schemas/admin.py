"""Health and version answers."""

from __future__ import annotations

from typing import Any

from sluice.schemas.base import ResponseModel


class Health(ResponseModel):
    """``GET /api/health``: the server answers and its database too."""

    status: str = "ok"
    database: str = "ok"


class Version(ResponseModel):
    """``GET /api/version``: the server's Sluice version and API version."""

    version: str
    api_version: str


class ErrorResponse(ResponseModel):
    """Every error answer (4xx, 503): ``detail`` says what went wrong (a list for request validation errors)."""

    detail: str | list[dict[str, Any]]
