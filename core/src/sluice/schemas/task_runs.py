"""Task runs: one call of a ``@task`` inside a flow run, with its state history; and a flow run's tree.

The engine gives each task run its id, so that it can send creations and state changes in batches
(``POST /api/task_runs/bulk``) and children can name parents not yet stored.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import Field

from sluice.schemas.base import ObjectModel, Page, RequestModel, ResponseModel, Tag
from sluice.schemas.flow_runs import FlowRun
from sluice.schemas.states import State, StateCreate, StateType

#: The most task runs, and separately the most state changes, one bulk report may carry.
MAX_TASK_RUN_BATCH = 1000
#: The most task runs and subflow runs ``GET /api/flow_runs/{id}/tree`` returns.
MAX_TREE_NODES = 20_000
#: The deepest subflow nesting ``GET /api/flow_runs/{id}/tree`` follows.
MAX_TREE_DEPTH = 30

#: A task key or a dynamic key: short text without control characters.
_KEY_PATTERN = r"^[^\x00-\x1f\x7f]+$"


class TaskRunCreate(RequestModel):
    """Body of ``POST /api/task_runs/`` and an item of a bulk report. Without ``state``: PENDING.

    The same ``id`` sent again (a retry after a lost answer) returns the stored run unchanged.
    """

    id: UUID | None = Field(default=None, description="The client's id for the run (default: the server makes one).")
    name: str = Field(min_length=1, max_length=200, pattern=_KEY_PATTERN)
    flow_run_id: UUID
    task_key: str = Field(
        min_length=1, max_length=500, pattern=_KEY_PATTERN, description="The task's definition: module.qualname."
    )
    dynamic_key: str = Field(
        default="0",
        min_length=1,
        max_length=200,
        pattern=_KEY_PATTERN,
        description="Which call of the task in its flow run: 0, 1, 2… (unique with the task key).",
    )
    parent_task_run_id: UUID | None = Field(default=None, description="The task run that called it, if any.")
    tags: list[Tag] = Field(default_factory=list, max_length=100)
    task_inputs: dict[str, list[UUID]] = Field(
        default_factory=dict,
        description="For each argument, the task runs whose results it was given (futures passed as arguments).",
        max_length=1000,
    )
    state: StateCreate | None = None


class TaskRun(ObjectModel):
    """A task run as the API returns it."""

    name: str
    flow_run_id: UUID
    task_key: str
    dynamic_key: str
    parent_task_run_id: UUID | None = None
    tags: list[str] = Field(default_factory=list)
    task_inputs: dict[str, list[UUID]] = Field(default_factory=dict)
    state_type: StateType | None = None
    state_name: str | None = None
    state_timestamp: datetime | None = None
    state_message: str | None = None
    state: State | None = None
    expected_start_time: datetime | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    run_count: int = 0


class TaskRunSort(StrEnum):
    """Orders of ``POST /api/task_runs/filter``."""

    EXPECTED_START_TIME_ASC = "EXPECTED_START_TIME_ASC"
    EXPECTED_START_TIME_DESC = "EXPECTED_START_TIME_DESC"
    END_TIME_DESC = "END_TIME_DESC"
    NAME_ASC = "NAME_ASC"


class TaskRunFilter(Page):
    """Body of ``POST /api/task_runs/filter``; every criterion given must match."""

    ids: list[UUID] | None = Field(default=None, max_length=1000)
    flow_run_ids: list[UUID] | None = Field(default=None, max_length=1000)
    parent_task_run_ids: list[UUID] | None = Field(default=None, max_length=1000)
    task_keys: list[str] | None = Field(default=None, max_length=1000)
    names: list[str] | None = Field(default=None, max_length=1000)
    state_types: list[StateType] | None = Field(default=None, max_length=20)
    sort: TaskRunSort = TaskRunSort.EXPECTED_START_TIME_ASC


class TaskRunStateHistory(ResponseModel):
    """One entry of a task run's state history (``GET /api/task_runs/{id}/states``)."""

    id: UUID
    task_run_id: UUID
    type: StateType
    name: str
    timestamp: datetime
    message: str | None = None


class TaskRunStateChange(RequestModel):
    """One state change in a bulk report: ``state`` proposed for the task run ``task_run_id``."""

    task_run_id: UUID
    state: StateCreate


class TaskRunBulkReport(RequestModel):
    """Body of ``POST /api/task_runs/bulk``: task runs to create, then state changes, applied in order.

    Both parts are idempotent: a run whose id is stored and a state whose id is stored are skipped,
    so a report sent again after a lost answer changes nothing.
    """

    task_runs: list[TaskRunCreate] = Field(default_factory=list, max_length=MAX_TASK_RUN_BATCH)
    states: list[TaskRunStateChange] = Field(default_factory=list, max_length=MAX_TASK_RUN_BATCH)


class TaskRunBulkResult(ResponseModel):
    """The answer to a bulk report: how many runs and states were new, and the states refused with why."""

    created: int = 0
    states: int = 0
    rejected: list[dict[str, Any]] = Field(default_factory=list)


class FlowRunTree(ResponseModel):
    """A flow run with its task runs and, recursively, its subflow runs (``GET /api/flow_runs/{id}/tree``).

    A subflow run's ``parent_task_run_id`` names the task run it was called from, if any.
    ``truncated`` is true when the tree was cut at ``MAX_TREE_NODES`` or ``MAX_TREE_DEPTH``.
    """

    flow_run: FlowRun
    task_runs: list[TaskRun] = Field(default_factory=list)
    subflow_runs: list[FlowRunTree] = Field(default_factory=list)
    truncated: bool = False


__all__ = [
    "MAX_TASK_RUN_BATCH",
    "MAX_TREE_DEPTH",
    "MAX_TREE_NODES",
    "FlowRunTree",
    "TaskRun",
    "TaskRunBulkReport",
    "TaskRunBulkResult",
    "TaskRunCreate",
    "TaskRunFilter",
    "TaskRunSort",
    "TaskRunStateChange",
    "TaskRunStateHistory",
]
