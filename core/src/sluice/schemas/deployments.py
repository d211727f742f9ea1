"""Deployments: the server-side configuration of how, where and when a flow runs."""

from __future__ import annotations

from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import Field, model_validator

from sluice.schemas.base import Count, Name, ObjectModel, Page, RequestModel, ResponseModel, Tag, UtcDatetime
from sluice.schemas.states import StateCreate


class ScheduleEntry(ResponseModel):
    """One of a deployment's schedules (for the scheduler): its id, the schedule JSON and whether it is on."""

    id: UUID | None = None
    schedule: dict[str, Any]
    active: bool = True


class DeploymentFields(RequestModel):
    """The fields a deployment is created or replaced with (everything but its identity)."""

    version: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    schedule: dict[str, Any] | None = Field(default=None, description="Schedule JSON with its `type` slug.")
    is_schedule_active: bool = True
    schedules: list[ScheduleEntry] = Field(default_factory=list, max_length=100)
    catchup: bool = False
    max_lateness: Count | None = Field(default=None, description="Seconds after which a missed run is skipped.")
    concurrency_limit: Count | None = None
    infra_overrides: dict[str, Any] = Field(default_factory=dict)
    parameters: dict[str, Any] = Field(default_factory=dict)
    tags: list[Tag] = Field(default_factory=list, max_length=100)
    work_queue_name: Name | None = "default"
    parameter_openapi_schema: dict[str, Any] | None = None
    path: str | None = Field(default=None, max_length=4096)
    entrypoint: str | None = Field(default=None, max_length=4096)
    manifest_path: str | None = Field(default=None, max_length=4096)
    storage_document_id: UUID | None = None
    infrastructure_document_id: UUID | None = None
    infrastructure: dict[str, Any] | None = Field(
        default=None, description="Anonymous infrastructure block data with its `type` slug."
    )


class DeploymentCreate(DeploymentFields):
    """Body of ``POST /api/deployments/``: an upsert on (flow, name) that keeps the id.

    Give ``flow_id``, or ``flow_name`` to create the flow on first use.
    """

    name: Name
    flow_id: UUID | None = None
    flow_name: Name | None = None

    @model_validator(mode="after")
    def _check_flow(self) -> DeploymentCreate:
        if self.flow_id is None and self.flow_name is None:
            raise ValueError("give flow_id or flow_name")
        return self


class DeploymentUpdate(RequestModel):
    """Body of ``PATCH /api/deployments/{id}``: only the fields given change."""

    version: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    schedule: dict[str, Any] | None = None
    is_schedule_active: bool | None = None
    schedules: list[ScheduleEntry] | None = Field(default=None, max_length=100)
    catchup: bool | None = None
    max_lateness: Count | None = None
    concurrency_limit: Count | None = None
    infra_overrides: dict[str, Any] | None = None
    parameters: dict[str, Any] | None = None
    tags: list[Tag] | None = Field(default=None, max_length=100)
    work_queue_name: Name | None = None
    parameter_openapi_schema: dict[str, Any] | None = None
    path: str | None = Field(default=None, max_length=4096)
    entrypoint: str | None = Field(default=None, max_length=4096)
    manifest_path: str | None = Field(default=None, max_length=4096)
    storage_document_id: UUID | None = None
    infrastructure_document_id: UUID | None = None
    infrastructure: dict[str, Any] | None = None


class Deployment(ObjectModel):
    """A deployment as the API returns it (Prefect 2's "Deployment API representation" and more)."""

    name: str
    flow_id: UUID
    flow_name: str | None = None
    version: str | None = None
    description: str | None = None
    schedule: dict[str, Any] | None = None
    is_schedule_active: bool = True
    schedules: list[ScheduleEntry] = Field(default_factory=list)
    catchup: bool = False
    max_lateness: int | None = None
    concurrency_limit: int | None = None
    infra_overrides: dict[str, Any] = Field(default_factory=dict)
    parameters: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    work_queue_name: str | None = None
    parameter_openapi_schema: dict[str, Any] | None = None
    path: str | None = None
    entrypoint: str | None = None
    manifest_path: str | None = None
    storage_document_id: UUID | None = None
    infrastructure_document_id: UUID | None = None
    infrastructure: dict[str, Any] | None = None


class DeploymentSort(StrEnum):
    """Orders of ``POST /api/deployments/filter``."""

    NAME_ASC = "NAME_ASC"
    NAME_DESC = "NAME_DESC"
    CREATED_DESC = "CREATED_DESC"
    UPDATED_DESC = "UPDATED_DESC"


class DeploymentFilter(Page):
    """Body of ``POST /api/deployments/filter``; every criterion given must match."""

    ids: list[UUID] | None = Field(default=None, max_length=1000)
    names: list[str] | None = Field(default=None, max_length=1000)
    flow_names: list[str] | None = Field(default=None, max_length=1000)
    tags_any: list[str] | None = Field(default=None, max_length=100, description="Deployments with any of these.")
    tags_all: list[str] | None = Field(default=None, max_length=100, description="Deployments with all of these.")
    work_queue_names: list[str] | None = Field(default=None, max_length=1000)
    is_schedule_active: bool | None = None
    sort: DeploymentSort = DeploymentSort.NAME_ASC


class DeploymentFlowRunCreate(RequestModel):
    """Body of ``POST /api/deployments/{id}/create_flow_run``.

    ``parameters`` are merged over the deployment's defaults and validated against its parameter
    schema. Without ``state`` the run is SCHEDULED for now.
    """

    name: Name | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    state: StateCreate | None = None
    tags: list[Tag] | None = Field(default=None, max_length=100, description="Default: the deployment's tags.")
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=500)
    parent_flow_run_id: UUID | None = None
    work_queue_name: Name | None = None
    expected_start_time: UtcDatetime | None = None
