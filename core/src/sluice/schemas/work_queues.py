"""Work queues: where agents pick flow runs up."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import Field

from sluice.schemas.base import Count, Name, ObjectModel, Page, RequestModel, Tag


class WorkQueueCreate(RequestModel):
    """Body of ``POST /api/work_queues/``; a name already used is a 409."""

    name: Name
    description: str | None = Field(default=None, max_length=10_000)
    is_paused: bool = False
    concurrency_limit: Count | None = None
    filter: list[Tag] | None = Field(default=None, max_length=100, description="Legacy tag filter.")
    priority: Count = 1


class WorkQueueUpdate(RequestModel):
    """Body of ``PATCH /api/work_queues/{id}``: only the fields given change."""

    name: Name | None = None
    description: str | None = Field(default=None, max_length=10_000)
    is_paused: bool | None = None
    concurrency_limit: Count | None = None
    filter: list[Tag] | None = Field(default=None, max_length=100)
    priority: Count | None = None


class WorkQueue(ObjectModel):
    """A work queue as the API returns it."""

    name: str
    description: str | None = None
    is_paused: bool = False
    concurrency_limit: int | None = None
    filter: list[str] | None = None
    priority: int = 1
    last_polled: datetime | None = None


class WorkQueueFilter(Page):
    """Body of ``POST /api/work_queues/filter``."""

    ids: list[UUID] | None = Field(default=None, max_length=1000)
    names: list[str] | None = Field(default=None, max_length=1000)
    is_paused: bool | None = None
