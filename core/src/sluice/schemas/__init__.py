"""The API's request and response models: plain pydantic, importable without FastAPI or SQLAlchemy.

The client, the server and plugins share them. Request models (``*Create``, ``*Update``,
``*Filter``) reject unknown fields; response models ignore fields they do not know, so an older
client keeps working with a newer server.
"""

from __future__ import annotations

from sluice.schemas.admin import ErrorResponse, Health, Version
from sluice.schemas.blocks import (
    BlockDocument,
    BlockDocumentCreate,
    BlockDocumentFilter,
    BlockDocumentUpdate,
    BlockSchema,
    BlockSchemaCreate,
    BlockSchemaFilter,
    BlockType,
    BlockTypeCreate,
    BlockTypeFilter,
)
from sluice.schemas.deployments import (
    Deployment,
    DeploymentCreate,
    DeploymentFilter,
    DeploymentFlowRunCreate,
    DeploymentSort,
    DeploymentUpdate,
    ScheduleEntry,
)
from sluice.schemas.flow_runs import (
    FlowRun,
    FlowRunCreate,
    FlowRunFilter,
    FlowRunSort,
    FlowRunStateHistory,
    FlowRunUpdate,
)
from sluice.schemas.flows import Flow, FlowCreate, FlowFilter, FlowSort
from sluice.schemas.logs import Log, LogCreate, LogFilter
from sluice.schemas.states import (
    SCHEDULED_NAMES,
    TERMINAL_STATES,
    SetStateRequest,
    SetStateResult,
    State,
    StateCreate,
    StateType,
)
from sluice.schemas.work_queues import WorkQueue, WorkQueueCreate, WorkQueueFilter, WorkQueueUpdate

__all__ = [
    "SCHEDULED_NAMES",
    "TERMINAL_STATES",
    "BlockDocument",
    "BlockDocumentCreate",
    "BlockDocumentFilter",
    "BlockDocumentUpdate",
    "BlockSchema",
    "BlockSchemaCreate",
    "BlockSchemaFilter",
    "BlockType",
    "BlockTypeCreate",
    "BlockTypeFilter",
    "Deployment",
    "DeploymentCreate",
    "DeploymentFilter",
    "DeploymentFlowRunCreate",
    "DeploymentSort",
    "DeploymentUpdate",
    "ErrorResponse",
    "Flow",
    "FlowCreate",
    "FlowFilter",
    "FlowRun",
    "FlowRunCreate",
    "FlowRunFilter",
    "FlowRunSort",
    "FlowRunStateHistory",
    "FlowRunUpdate",
    "FlowSort",
    "Health",
    "Log",
    "LogCreate",
    "LogFilter",
    "ScheduleEntry",
    "SetStateRequest",
    "SetStateResult",
    "State",
    "StateCreate",
    "StateType",
    "Version",
    "WorkQueue",
    "WorkQueueCreate",
    "WorkQueueFilter",
    "WorkQueueUpdate",
]
