"""Flow runs: one execution of a flow, with its state and history."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import Field

from sluice.schemas.base import Name, ObjectModel, Page, RequestModel, ResponseModel, Tag, UtcDatetime
from sluice.schemas.states import State, StateCreate, StateType


class FlowRunCreate(RequestModel):
    """Body of ``POST /api/flow_runs/`` (used by ``@flow`` calls). Without ``state``: PENDING.

    An ``idempotency_key`` already used for the flow returns the existing run.
    """

    flow_id: UUID
    name: Name | None = None
    deployment_id: UUID | None = None
    work_queue_name: Name | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    tags: list[Tag] = Field(default_factory=list, max_length=100)
    parent_flow_run_id: UUID | None = None
    parent_task_run_id: UUID | None = Field(
        default=None, description="For a subflow called inside a task: that task run (of the parent flow run)."
    )
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=500)
    state: StateCreate | None = None
    expected_start_time: UtcDatetime | None = None
    auto_scheduled: bool = False


class FlowRunUpdate(RequestModel):
    """Body of ``PATCH /api/flow_runs/{id}``: only the fields given change."""

    name: Name | None = None
    tags: list[Tag] | None = Field(default=None, max_length=100)
    infrastructure_pid: str | None = Field(default=None, max_length=1000)
    agent_id: UUID | None = None


class FlowRun(ObjectModel):
    """A flow run as the API returns it."""

    name: str
    flow_id: UUID
    deployment_id: UUID | None = None
    work_queue_name: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    state_type: StateType | None = None
    state_name: str | None = None
    state_timestamp: datetime | None = None
    state_message: str | None = None
    state: State | None = None
    expected_start_time: datetime | None = None
    next_scheduled_start_time: datetime | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    run_count: int = 0
    idempotency_key: str | None = None
    agent_id: UUID | None = None
    infrastructure_pid: str | None = None
    parent_flow_run_id: UUID | None = None
    parent_task_run_id: UUID | None = None
    auto_scheduled: bool = False


class FlowRunSort(StrEnum):
    """Orders of ``POST /api/flow_runs/filter``."""

    EXPECTED_START_TIME_ASC = "EXPECTED_START_TIME_ASC"
    EXPECTED_START_TIME_DESC = "EXPECTED_START_TIME_DESC"
    START_TIME_DESC = "START_TIME_DESC"
    CREATED_DESC = "CREATED_DESC"
    NAME_ASC = "NAME_ASC"


class FlowRunFilter(Page):
    """Body of ``POST /api/flow_runs/filter``; every criterion given must match."""

    ids: list[UUID] | None = Field(default=None, max_length=1000)
    flow_ids: list[UUID] | None = Field(default=None, max_length=1000)
    flow_names: list[str] | None = Field(default=None, max_length=1000)
    deployment_ids: list[UUID] | None = Field(default=None, max_length=1000)
    work_queue_names: list[str] | None = Field(default=None, max_length=1000)
    parent_flow_run_ids: list[UUID] | None = Field(default=None, max_length=1000)
    parent_task_run_ids: list[UUID] | None = Field(default=None, max_length=1000)
    state_types: list[StateType] | None = Field(default=None, max_length=20)
    state_names: list[str] | None = Field(default=None, max_length=100)
    tags_any: list[str] | None = Field(default=None, max_length=100)
    tags_all: list[str] | None = Field(default=None, max_length=100)
    expected_start_time_after: UtcDatetime | None = Field(default=None, description="Inclusive lower bound.")
    expected_start_time_before: UtcDatetime | None = Field(default=None, description="Inclusive upper bound.")
    sort: FlowRunSort = FlowRunSort.EXPECTED_START_TIME_DESC


class FlowRunStateHistory(ResponseModel):
    """One entry of a run's state history (``GET /api/flow_runs/{id}/states``)."""

    id: UUID
    flow_run_id: UUID
    type: StateType
    name: str
    timestamp: datetime
    message: str | None = None
    scheduled_time: datetime | None = None


__all__ = [
    "FlowRun",
    "FlowRunCreate",
    "FlowRunFilter",
    "FlowRunSort",
    "FlowRunStateHistory",
    "FlowRunUpdate",
]
