"""Logs shipped by flow runs."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import Field

from sluice.schemas.base import Page, RequestModel, ResponseModel, UtcDatetime


class LogCreate(RequestModel):
    """One log record in the body of ``POST /api/logs/`` (a list)."""

    flow_run_id: UUID
    level: int = Field(default=20, ge=0, le=100, description="Python logging level: 10 debug … 50 critical.")
    name: str = Field(default="sluice", max_length=500, description="Logger name.")
    message: str = Field(max_length=1_000_000)
    timestamp: UtcDatetime
    client_id: UUID | None = Field(
        default=None,
        description="An id the client gives the record: a record sent again with the same id (a retry "
        "after a lost answer) is stored once.",
    )


class Log(ResponseModel):
    """A stored log record."""

    id: int
    flow_run_id: UUID
    level: int
    name: str
    message: str
    timestamp: datetime
    client_id: UUID | None = None


class LogFilter(Page):
    """Body of ``POST /api/logs/filter``: records ordered by timestamp (then arrival)."""

    flow_run_ids: list[UUID] | None = Field(default=None, max_length=1000)
    level_ge: int | None = Field(default=None, ge=0, le=100, description="Only records at this level or above.")
    descending: bool = False
