"""The SQLModel tables of the server. Migrations in ``migrations/versions`` must match them."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import BigInteger, Index, Integer, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from sluice.server.database.types import JSONType, UTCDateTime, utcnow

#: Log ids: BIGINT on PostgreSQL, SQLite's rowid alias INTEGER PRIMARY KEY.
LogId: Any = BigInteger().with_variant(Integer(), "sqlite")


class ObjectTable(SQLModel):
    """Columns every stored object has: a UUID and created/updated timestamps."""

    id: UUID = Field(default_factory=uuid4, primary_key=True)
    created: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class FlowTable(ObjectTable, table=True):
    """A flow, unique by name."""

    __tablename__ = "flow"

    name: str = Field(unique=True, nullable=False)
    tags: list[str] = Field(default_factory=list, sa_type=JSONType, nullable=False)


class WorkQueueTable(ObjectTable, table=True):
    """A work queue, unique by name."""

    __tablename__ = "work_queue"

    name: str = Field(unique=True, nullable=False)
    description: str | None = Field(default=None, sa_type=Text)
    is_paused: bool = Field(default=False, nullable=False)
    concurrency_limit: int | None = None
    filter: list[str] | None = Field(default=None, sa_type=JSONType)
    priority: int = Field(default=1, nullable=False)
    last_polled: datetime | None = Field(default=None, sa_type=UTCDateTime)


class BlockTypeTable(ObjectTable, table=True):
    """A block type, unique by slug."""

    __tablename__ = "block_type"

    slug: str = Field(unique=True, nullable=False)
    name: str = Field(nullable=False)
    description: str | None = Field(default=None, sa_type=Text)
    logo_url: str | None = None
    documentation_url: str | None = None


class BlockSchemaTable(ObjectTable, table=True):
    """One version of a block type's fields, unique by (type, checksum)."""

    __tablename__ = "block_schema"
    __table_args__ = (UniqueConstraint("block_type_id", "checksum", name="uq_block_schema_type_checksum"),)

    block_type_id: UUID = Field(foreign_key="block_type.id", ondelete="CASCADE", nullable=False, index=True)
    fields: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType, nullable=False)
    secret_fields: list[str] = Field(default_factory=list, sa_type=JSONType, nullable=False)
    capabilities: list[str] = Field(default_factory=list, sa_type=JSONType, nullable=False)
    checksum: str = Field(nullable=False)
    version: str | None = None


class BlockDocumentTable(ObjectTable, table=True):
    """A saved block: plain fields in ``data``, secret ones encrypted in ``encrypted_secrets``."""

    __tablename__ = "block_document"
    __table_args__ = (UniqueConstraint("block_type_id", "name", name="uq_block_document_type_name"),)

    name: str = Field(nullable=False)
    block_type_id: UUID = Field(foreign_key="block_type.id", ondelete="CASCADE", nullable=False)
    block_schema_id: UUID | None = Field(default=None, foreign_key="block_schema.id", ondelete="SET NULL")
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType, nullable=False)
    encrypted_secrets: str | None = Field(default=None, sa_type=Text)


class DeploymentTable(ObjectTable, table=True):
    """A deployment, unique by (flow, name)."""

    __tablename__ = "deployment"
    __table_args__ = (UniqueConstraint("flow_id", "name", name="uq_deployment_flow_name"),)

    name: str = Field(nullable=False)
    flow_id: UUID = Field(foreign_key="flow.id", ondelete="CASCADE", nullable=False)
    version: str | None = None
    description: str | None = Field(default=None, sa_type=Text)
    schedule: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    is_schedule_active: bool = Field(default=True, nullable=False)
    schedules: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONType, nullable=False)
    catchup: bool = Field(default=False, nullable=False)
    max_lateness: int | None = None
    concurrency_limit: int | None = None
    infra_overrides: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType, nullable=False)
    parameters: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType, nullable=False)
    tags: list[str] = Field(default_factory=list, sa_type=JSONType, nullable=False)
    work_queue_name: str | None = Field(default=None, index=True)
    parameter_openapi_schema: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    path: str | None = Field(default=None, sa_type=Text)
    entrypoint: str | None = Field(default=None, sa_type=Text)
    manifest_path: str | None = Field(default=None, sa_type=Text)
    storage_document_id: UUID | None = Field(default=None, foreign_key="block_document.id", ondelete="RESTRICT")
    infrastructure_document_id: UUID | None = Field(default=None, foreign_key="block_document.id", ondelete="RESTRICT")
    infrastructure: dict[str, Any] | None = Field(default=None, sa_type=JSONType)


class FlowRunTable(ObjectTable, table=True):
    """A flow run with its current state; the history is in ``flow_run_state``."""

    __tablename__ = "flow_run"
    __table_args__ = (
        UniqueConstraint("flow_id", "idempotency_key", name="uq_flow_run_flow_idempotency_key"),
        Index("ix_flow_run_state_type_expected_start_time", "state_type", "expected_start_time"),
        Index("ix_flow_run_work_queue_name_state_type", "work_queue_name", "state_type"),
        Index("ix_flow_run_deployment_id", "deployment_id"),
        Index("ix_flow_run_parent_flow_run_id", "parent_flow_run_id"),
        Index("ix_flow_run_parent_task_run_id", "parent_task_run_id"),
    )

    name: str = Field(nullable=False)
    flow_id: UUID = Field(foreign_key="flow.id", ondelete="CASCADE", nullable=False)
    deployment_id: UUID | None = Field(default=None, foreign_key="deployment.id", ondelete="SET NULL")
    work_queue_name: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType, nullable=False)
    tags: list[str] = Field(default_factory=list, sa_type=JSONType, nullable=False)
    state_type: str | None = None
    state_name: str | None = None
    state_timestamp: datetime | None = Field(default=None, sa_type=UTCDateTime)
    state_message: str | None = Field(default=None, sa_type=Text)
    expected_start_time: datetime | None = Field(default=None, sa_type=UTCDateTime)
    next_scheduled_start_time: datetime | None = Field(default=None, sa_type=UTCDateTime)
    start_time: datetime | None = Field(default=None, sa_type=UTCDateTime)
    end_time: datetime | None = Field(default=None, sa_type=UTCDateTime)
    run_count: int = Field(default=0, nullable=False)
    idempotency_key: str | None = None
    agent_id: UUID | None = None
    infrastructure_pid: str | None = None
    parent_flow_run_id: UUID | None = Field(default=None, foreign_key="flow_run.id", ondelete="SET NULL")
    #: The task run a subflow was called from. No foreign key: the engine sends task runs in batches,
    #: so the subflow run may be created before the batch holding that task run arrives.
    parent_task_run_id: UUID | None = None
    auto_scheduled: bool = Field(default=False, nullable=False)


class FlowRunStateTable(ObjectTable, table=True):
    """One state a flow run entered: its history, in ``timestamp`` order."""

    __tablename__ = "flow_run_state"
    __table_args__ = (Index("ix_flow_run_state_flow_run_id_timestamp", "flow_run_id", "timestamp"),)

    flow_run_id: UUID = Field(foreign_key="flow_run.id", ondelete="CASCADE", nullable=False)
    type: str = Field(nullable=False)
    name: str = Field(nullable=False)
    timestamp: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    message: str | None = Field(default=None, sa_type=Text)
    scheduled_time: datetime | None = Field(default=None, sa_type=UTCDateTime)


class TaskRunTable(ObjectTable, table=True):
    """A task run with its current state; the history is in ``task_run_state``."""

    __tablename__ = "task_run"
    __table_args__ = (
        UniqueConstraint("flow_run_id", "task_key", "dynamic_key", name="uq_task_run_flow_run_task_key_dynamic_key"),
        Index("ix_task_run_flow_run_id_expected_start_time", "flow_run_id", "expected_start_time"),
        Index("ix_task_run_parent_task_run_id", "parent_task_run_id"),
    )

    name: str = Field(nullable=False)
    flow_run_id: UUID = Field(foreign_key="flow_run.id", ondelete="CASCADE", nullable=False)
    task_key: str = Field(nullable=False)
    dynamic_key: str = Field(nullable=False)
    #: The task run that called this one. No foreign key: a batch may name a parent sent earlier
    #: or a run deleted since; the tree simply does not find it.
    parent_task_run_id: UUID | None = None
    tags: list[str] = Field(default_factory=list, sa_type=JSONType, nullable=False)
    task_inputs: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType, nullable=False)
    state_type: str | None = None
    state_name: str | None = None
    state_timestamp: datetime | None = Field(default=None, sa_type=UTCDateTime)
    state_message: str | None = Field(default=None, sa_type=Text)
    expected_start_time: datetime | None = Field(default=None, sa_type=UTCDateTime)
    start_time: datetime | None = Field(default=None, sa_type=UTCDateTime)
    end_time: datetime | None = Field(default=None, sa_type=UTCDateTime)
    run_count: int = Field(default=0, nullable=False)


class TaskRunStateTable(ObjectTable, table=True):
    """One state a task run entered: its history, in ``timestamp`` order."""

    __tablename__ = "task_run_state"
    __table_args__ = (Index("ix_task_run_state_task_run_id_timestamp", "task_run_id", "timestamp"),)

    task_run_id: UUID = Field(foreign_key="task_run.id", ondelete="CASCADE", nullable=False)
    type: str = Field(nullable=False)
    name: str = Field(nullable=False)
    timestamp: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    message: str | None = Field(default=None, sa_type=Text)


class AgentTable(ObjectTable, table=True):
    """An agent that polls work queues, with its last heartbeat."""

    __tablename__ = "agent"

    name: str = Field(nullable=False, index=True)
    queues: list[str] = Field(default_factory=list, sa_type=JSONType, nullable=False)
    last_heartbeat: datetime | None = Field(default=None, sa_type=UTCDateTime)


class LogTable(SQLModel, table=True):
    """A log record of a flow run; ``id`` grows with arrival, which orders equal timestamps.

    ``client_id`` (unique when given) makes shipping idempotent: a record whose id is stored is skipped.
    """

    __tablename__ = "log"
    __table_args__ = (
        Index("ix_log_flow_run_id_timestamp", "flow_run_id", "timestamp"),
        Index("ux_log_client_id", "client_id", unique=True),
        Index("ix_log_task_run_id", "task_run_id"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=LogId)
    flow_run_id: UUID = Field(foreign_key="flow_run.id", ondelete="CASCADE", nullable=False)
    #: The task run that logged it. No foreign key: logs and task runs travel in separate batches.
    task_run_id: UUID | None = None
    level: int = Field(nullable=False)
    name: str = Field(nullable=False)
    message: str = Field(sa_type=Text, nullable=False)
    timestamp: datetime = Field(sa_type=UTCDateTime, nullable=False)
    created: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    #: The client's id of the record, so that a batch sent again stores each record once.
    client_id: UUID | None = Field(default=None)


#: Every table, children before parents (the order to empty them in).
ALL_TABLES: tuple[type[SQLModel], ...] = (
    LogTable,
    TaskRunStateTable,
    TaskRunTable,
    FlowRunStateTable,
    FlowRunTable,
    DeploymentTable,
    BlockDocumentTable,
    BlockSchemaTable,
    BlockTypeTable,
    WorkQueueTable,
    AgentTable,
    FlowTable,
)
