"""Flow-run states: their types, the names a SCHEDULED state may have, and set-state bodies."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal
from uuid import UUID

from pydantic import Field, model_validator

from sluice.schemas.base import RequestModel, ResponseModel, UtcDatetime


class StateType(StrEnum):
    """The type of a flow-run state."""

    SCHEDULED = "SCHEDULED"
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLING = "CANCELLING"
    CANCELLED = "CANCELLED"
    CRASHED = "CRASHED"


#: States a run never leaves, except FAILED/CRASHED by an explicit retry (see docs/api.md).
TERMINAL_STATES = frozenset({StateType.COMPLETED, StateType.FAILED, StateType.CANCELLED, StateType.CRASHED})
#: The names a SCHEDULED state may carry.
SCHEDULED_NAMES = ("Scheduled", "Late", "AwaitingRetry")
#: The name a state gets when none is given.
DEFAULT_NAMES = {
    StateType.SCHEDULED: "Scheduled",
    StateType.PENDING: "Pending",
    StateType.RUNNING: "Running",
    StateType.COMPLETED: "Completed",
    StateType.FAILED: "Failed",
    StateType.CANCELLING: "Cancelling",
    StateType.CANCELLED: "Cancelled",
    StateType.CRASHED: "Crashed",
}


class StateCreate(RequestModel):
    """A state proposed for a flow run."""

    type: StateType
    name: str | None = Field(default=None, min_length=1, max_length=100)
    message: str | None = Field(default=None, max_length=10_000)
    scheduled_time: UtcDatetime | None = Field(
        default=None, description="For SCHEDULED states: when the run should start (default: now)."
    )
    id: UUID | None = Field(
        default=None,
        description="An id the client gives the state. Proposing it again (a retry after a lost answer) "
        "is answered ACCEPT with the state recorded the first time, and records nothing twice.",
    )
    timestamp: UtcDatetime | None = Field(
        default=None,
        description="When the state happened, by the client's clock (a state delivered late keeps its "
        "time). Default: when the server receives it; never later than that, nor earlier than the "
        "run's current state.",
    )

    @model_validator(mode="after")
    def _check_name(self) -> StateCreate:
        if self.name is None:
            self.name = DEFAULT_NAMES[self.type]
        if self.type is StateType.SCHEDULED and self.name not in SCHEDULED_NAMES:
            raise ValueError(f"a SCHEDULED state is named one of {', '.join(SCHEDULED_NAMES)}, not {self.name!r}")
        if self.scheduled_time is not None and self.type is not StateType.SCHEDULED:
            raise ValueError("scheduled_time is only allowed on SCHEDULED states")
        return self


class State(ResponseModel):
    """A state a flow run is or was in."""

    id: UUID | None = None
    type: StateType
    name: str
    timestamp: datetime
    message: str | None = None
    scheduled_time: datetime | None = None

    @property
    def is_terminal(self) -> bool:
        """True for COMPLETED, FAILED, CANCELLED and CRASHED."""
        return self.type in TERMINAL_STATES


class SetStateRequest(RequestModel):
    """Body of ``POST /api/flow_runs/{id}/set_state``."""

    state: StateCreate
    force: bool = Field(
        default=False,
        description="Skip the transition rules. Meant for the server's own claim and for operators.",
    )


class SetStateResult(ResponseModel):
    """The answer to a proposed state: ACCEPT with the new state, or REJECT with the current one."""

    status: Literal["ACCEPT", "REJECT"]
    state: State | None = None
    reason: str | None = None
