"""Backfilling a deployment's schedules, and previewing the runs work queues will hand out."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import Field, model_validator

from sluice.schemas.base import RequestModel, ResponseModel, UtcDatetime
from sluice.schemas.flow_runs import FlowRun

#: The most runs one backfill call creates.
MAX_BACKFILL_RUNS = 100_000


class BackfillRequest(RequestModel):
    """Body of ``POST /api/deployments/{id}/backfill``: a run for every time each active schedule
    fires from ``start`` to ``end`` (both inclusive)."""

    start: UtcDatetime
    end: UtcDatetime
    dry_run: bool = Field(default=False, description="List the runs without creating any.")
    max_runs: int = Field(
        default=10_000,
        ge=1,
        le=MAX_BACKFILL_RUNS,
        description="Refuse (422, naming the count) a window that holds more runs than this.",
    )

    @model_validator(mode="after")
    def _check_window(self) -> BackfillRequest:
        if self.end < self.start:
            raise ValueError(f"end ({self.end.isoformat()}) is before start ({self.start.isoformat()})")
        return self


class BackfillRun(ResponseModel):
    """One scheduled time of a backfill window."""

    schedule_id: UUID
    expected_start_time: datetime
    exists: bool = Field(description="A run for this time existed already (made by the scheduler or a backfill).")
    flow_run_id: UUID | None = Field(default=None, description="The run (None for a new run of a dry run).")


class BackfillResult(ResponseModel):
    """What a backfill created, or would create (``dry_run``)."""

    deployment_id: UUID
    start: datetime
    end: datetime
    dry_run: bool
    total: int = Field(description="Scheduled times in the window.")
    created: int = Field(description="Runs created (0 for a dry run).")
    existing: int = Field(description="Times that already had a run.")
    runs: list[BackfillRun] = Field(default_factory=list)


class WorkQueuePreview(RequestModel):
    """Body of ``POST /api/work_queues/preview``: the runs agents will be handed soon."""

    work_queue_names: list[str] | None = Field(default=None, max_length=1000, description="Default: every queue.")
    hours: float = Field(default=24.0, gt=0, le=24 * 366, description="How far ahead to look.")
    limit: int = Field(default=200, ge=1, le=1000)


class UpcomingRun(FlowRun):
    """A SCHEDULED run due within a preview's window (Late ones included), with its names."""

    flow_name: str | None = None
    deployment_name: str | None = None
