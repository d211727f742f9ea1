"""Agents and claims: who polls work queues, and what they ask for."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import Field

from sluice.schemas.base import Name, ObjectModel, Page, RequestModel, ResponseModel

#: The longest a claim may wait for work (seconds); clients should time out later than this.
MAX_CLAIM_WAIT = 60.0


class ClaimFlowRuns(RequestModel):
    """Body of ``POST /api/work_queues/claim``.

    Claims up to ``limit`` SCHEDULED runs of ``queues`` (and of every queue whose name starts with
    ``match``) that are due within ``prefetch_seconds``, moving them to PENDING for ``agent_id``. With
    ``wait_seconds`` the call is a long poll: it answers as soon as a run can be claimed, or with an
    empty list when the time is up.
    """

    queues: list[Name] = Field(default_factory=list, max_length=100)
    match: Name | None = Field(default=None, description="Also claim from queues whose names start with this.")
    limit: int = Field(default=10, ge=1, le=1000)
    agent_id: UUID
    prefetch_seconds: float = Field(default=0.0, ge=0, le=86_400)
    wait_seconds: float = Field(default=0.0, ge=0, le=MAX_CLAIM_WAIT)


class AgentCreate(RequestModel):
    """Body of ``POST /api/agents/``: register an agent (again, with the same ``id``, after a restart
    of the server). The queues it names are created on first use."""

    name: Name
    queues: list[Name] = Field(default_factory=list, max_length=100)
    id: UUID | None = None


class Agent(ObjectModel):
    """An agent as the API returns it."""

    name: str
    queues: list[str] = Field(default_factory=list)
    last_heartbeat: datetime | None = None


class AgentHeartbeat(ResponseModel):
    """The answer to ``POST /api/agents/{id}/heartbeat``: the agent, its runs being cancelled
    (CANCELLING), which it should stop, and its claimed runs not started yet (PENDING), so that it can
    start those whose claim's answer never reached it."""

    agent: Agent
    cancelling_flow_run_ids: list[UUID] = Field(default_factory=list)
    pending_flow_run_ids: list[UUID] = Field(default_factory=list)


class AgentFilter(Page):
    """Body of ``POST /api/agents/filter``."""

    ids: list[UUID] | None = Field(default=None, max_length=1000)
    names: list[str] | None = Field(default=None, max_length=1000)
