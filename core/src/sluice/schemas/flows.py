"""Flows: a name (unique) and tags."""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from pydantic import Field

from sluice.schemas.base import Name, ObjectModel, Page, RequestModel, Tag


class FlowCreate(RequestModel):
    """Body of ``POST /api/flows/``; creating an existing name returns the existing flow."""

    name: Name
    tags: list[Tag] = Field(default_factory=list, max_length=100)


class Flow(ObjectModel):
    """A flow as the API returns it."""

    name: str
    tags: list[str] = Field(default_factory=list)


class FlowSort(StrEnum):
    """Orders of ``POST /api/flows/filter``."""

    NAME_ASC = "NAME_ASC"
    NAME_DESC = "NAME_DESC"
    CREATED_DESC = "CREATED_DESC"


class FlowFilter(Page):
    """Body of ``POST /api/flows/filter``; every criterion given must match."""

    ids: list[UUID] | None = Field(default=None, max_length=1000)
    names: list[str] | None = Field(default=None, max_length=1000)
    tags_any: list[str] | None = Field(default=None, max_length=100, description="Flows with any of these tags.")
    sort: FlowSort = FlowSort.NAME_ASC
