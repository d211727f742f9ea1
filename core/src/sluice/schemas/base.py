"""Shared building blocks of the API schemas: timestamps in UTC, bounded numbers, names, paging."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

#: The largest integer every supported database stores in a plain integer column.
MAX_INT = 2**31 - 1
#: The most objects one filter call returns.
MAX_PAGE = 1000


def to_utc(value: datetime) -> datetime:
    """A naive datetime is taken as UTC; an aware one is converted to UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("datetime is out of range once converted to UTC") from None


#: A datetime normalised to UTC (naive values are taken as UTC).
UtcDatetime = Annotated[datetime, AfterValidator(to_utc)]
#: A non-negative integer every database can store.
Count = Annotated[int, Field(ge=0, le=MAX_INT)]
#: A name usable in a URL path segment: no slash, no control characters.
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^/\x00-\x1f\x7f]+$")]
#: A tag: short text without control characters.
Tag = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]


class RequestModel(BaseModel):
    """Base of request bodies: an unknown field is an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class ResponseModel(BaseModel):
    """Base of response bodies: built from table rows; unknown fields from a newer server are ignored.

    Their validators are built on first use (``defer_build``): a CLI command touches two or three of
    the sixty response models, and building them all at import cost ~80 ms of every command.
    """

    model_config = ConfigDict(from_attributes=True, extra="ignore", defer_build=True)


class ObjectModel(ResponseModel):
    """A stored object: its id and when it was created and last updated."""

    id: UUID
    created: datetime
    updated: datetime


class Page(RequestModel):
    """Paging shared by every filter body."""

    limit: int = Field(default=200, ge=1, le=MAX_PAGE, description="Most objects to return.")
    offset: int = Field(default=0, ge=0, le=MAX_INT, description="Objects to skip first.")
