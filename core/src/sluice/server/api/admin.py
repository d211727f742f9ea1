"""``/api/health`` and ``/api/version``."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from sluice import __version__
from sluice.schemas.admin import Health, Version
from sluice.server.api.deps import ReadSessionDep

router = APIRouter(tags=["Admin"])

#: Bumped when the API changes in a way clients can tell.
API_VERSION = "0.1.0"


@router.get("/health", response_model=Health)
def health(session: ReadSessionDep) -> Health:
    """The server is up and its database answers. Never needs the API key."""
    session.execute(text("SELECT 1"))
    return Health()


@router.get("/version", response_model=Version)
def version() -> Version:
    """The server's Sluice version and API version."""
    return Version(version=__version__, api_version=API_VERSION)
