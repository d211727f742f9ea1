"""Logs shipped by flow runs, and the limits both the server and the log shipper keep to."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import Field, field_validator

from sluice.schemas.base import Page, RequestModel, ResponseModel, UtcDatetime

#: The most records one ``POST /api/logs/`` may carry; more is a 413.
MAX_LOG_BATCH = 1000
#: The longest message stored, in characters; a longer one is cut and ends with a note saying so.
MAX_LOG_MESSAGE_LENGTH = 100_000
#: The most bytes of JSON a log shipper sends in one request: well under the server's body limit.
LOG_BATCH_BYTES = 1_000_000
_NOTE_ROOM = 40  # the note " … [cut: N more characters]" fits in this
_SURROGATE = re.compile("[\\ud800-\\udfff]")


def fit_log_message(message: str) -> str:
    """``message`` as it is stored: lone surrogates (from undecodable file names, say) replaced by
    U+FFFD, and cut to ``MAX_LOG_MESSAGE_LENGTH`` characters with a note of how much was dropped."""
    if not message.isascii():
        message = _SURROGATE.sub("\ufffd", message)
    if len(message) <= MAX_LOG_MESSAGE_LENGTH:
        return message
    kept = MAX_LOG_MESSAGE_LENGTH - _NOTE_ROOM
    return f"{message[:kept]} … [cut: {len(message) - kept} more characters]"


def log_batches(records: list[dict[str, Any]], max_records: int = MAX_LOG_BATCH) -> Iterator[list[dict[str, Any]]]:
    """``records`` (JSON-ready dicts, in order) split into requests the server accepts: at most
    ``max_records`` (and ``MAX_LOG_BATCH``) records and ``LOG_BATCH_BYTES`` bytes each."""
    max_records = min(max_records, MAX_LOG_BATCH)
    batch: list[dict[str, Any]] = []
    size = 0
    for record in records:
        record_size = len(json.dumps(record)) + 1  # ASCII-escaped: never less than what is sent
        if batch and (len(batch) >= max_records or size + record_size > LOG_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(record)
        size += record_size
    if batch:
        yield batch


class LogCreate(RequestModel):
    """One log record in the body of ``POST /api/logs/`` (a list).

    A message longer than ``MAX_LOG_MESSAGE_LENGTH`` characters is stored cut, ending with a note.
    """

    flow_run_id: UUID
    task_run_id: UUID | None = Field(default=None, description="The task run that logged it, if any.")
    level: int = Field(default=20, ge=0, le=100, description="Python logging level: 10 debug … 50 critical.")
    name: str = Field(default="sluice", max_length=500, description="Logger name.")
    message: str = Field(description=f"Cut to {MAX_LOG_MESSAGE_LENGTH} characters (with a note) when longer.")
    timestamp: UtcDatetime
    client_id: UUID | None = Field(
        default=None,
        description="An id the client gives the record: a record sent again with the same id (a retry "
        "after a lost answer) is stored once.",
    )

    @field_validator("message", mode="after")
    @classmethod
    def _fit(cls, message: str) -> str:
        return fit_log_message(message)


class Log(ResponseModel):
    """A stored log record."""

    id: int
    flow_run_id: UUID
    task_run_id: UUID | None = None
    level: int
    name: str
    message: str
    timestamp: datetime
    client_id: UUID | None = None


class LogFilter(Page):
    """Body of ``POST /api/logs/filter``: records ordered by timestamp (then arrival)."""

    flow_run_ids: list[UUID] | None = Field(default=None, max_length=1000)
    task_run_ids: list[UUID] | None = Field(
        default=None, max_length=1000, description="Only records of these task runs."
    )
    level_ge: int | None = Field(default=None, ge=0, le=100, description="Only records at this level or above.")
    descending: bool = False
