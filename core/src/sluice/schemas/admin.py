"""Health and version answers."""

from __future__ import annotations

from sluice.schemas.base import ResponseModel


class Health(ResponseModel):
    """``GET /api/health``: the server answers and its database too."""

    status: str = "ok"
    database: str = "ok"


class Version(ResponseModel):
    """``GET /api/version``: the server's Sluice version and API version."""

    version: str
    api_version: str
