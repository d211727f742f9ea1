"""``/api/agents``: register, heartbeat, read and list the agents that poll work queues."""

from __future__ import annotations

from uuid import UUID, uuid4

from fastapi import APIRouter, status
from sqlalchemy import select, update

from sluice.errors import ObjectNotFound
from sluice.schemas.agents import Agent, AgentCreate, AgentFilter, AgentHeartbeat
from sluice.server.api.common import ensure_work_queue, get_or_404, paginate
from sluice.server.api.deps import ReadSessionDep, SessionDep
from sluice.server.database.tables import AgentTable, FlowRunTable
from sluice.server.database.types import utcnow

router = APIRouter(prefix="/agents", tags=["Agents"])


@router.post("/", response_model=Agent, status_code=status.HTTP_201_CREATED)
def register_agent(body: AgentCreate, session: SessionDep) -> Agent:
    """Register an agent (with ``id``: again, e.g. after the server lost it) and create its queues on
    first use. Registering counts as a heartbeat."""
    now = utcnow()
    agent = session.get(AgentTable, body.id) if body.id is not None else None
    if agent is None:
        agent = AgentTable(id=body.id or uuid4(), created=now, name=body.name, queues=list(body.queues))
        session.add(agent)
    agent.name = body.name
    agent.queues = list(body.queues)
    agent.last_heartbeat = now
    agent.updated = now
    for name in body.queues:
        ensure_work_queue(session, name)
    session.commit()
    return Agent.model_validate(agent)


#: The most PENDING runs one heartbeat answer lists (an agent holds at most its limit of them).
MAX_PENDING_LISTED = 1000


@router.post("/{agent_id}/heartbeat", response_model=AgentHeartbeat)
def heartbeat(agent_id: UUID, session: SessionDep) -> AgentHeartbeat:
    """Record that the agent is alive; the answer lists its runs being cancelled and its claimed runs
    not started yet. An unknown agent is a 404: register again with the same id."""
    now = utcnow()
    updated = session.execute(
        update(AgentTable).where(AgentTable.id == agent_id).values(last_heartbeat=now, updated=now)
    )
    if not updated.rowcount:
        raise ObjectNotFound(f"agent {agent_id} not found; register it again")
    session.commit()
    agent = session.get(AgentTable, agent_id)
    cancelling = session.scalars(
        select(FlowRunTable.id).where(FlowRunTable.agent_id == agent_id, FlowRunTable.state_type == "CANCELLING")
    )
    pending = session.scalars(
        select(FlowRunTable.id)
        .where(FlowRunTable.agent_id == agent_id, FlowRunTable.state_type == "PENDING")
        .limit(MAX_PENDING_LISTED)
    )
    return AgentHeartbeat(
        agent=Agent.model_validate(agent),
        cancelling_flow_run_ids=list(cancelling),
        pending_flow_run_ids=list(pending),
    )


@router.get("/{agent_id}", response_model=Agent)
def read_agent(agent_id: UUID, session: ReadSessionDep) -> Agent:
    """Read an agent by id."""
    return Agent.model_validate(get_or_404(session, AgentTable, agent_id, "agent"))


@router.post("/filter", response_model=list[Agent])
def filter_agents(session: ReadSessionDep, body: AgentFilter | None = None) -> list[Agent]:
    """List agents, the most recently seen first."""
    body = body or AgentFilter()
    query = select(AgentTable)
    if body.ids is not None:
        query = query.where(AgentTable.id.in_(body.ids))
    if body.names is not None:
        query = query.where(AgentTable.name.in_(body.names))
    query = query.order_by(AgentTable.last_heartbeat.desc(), AgentTable.name)
    return [Agent.model_validate(row) for row in session.scalars(paginate(query, body))]


@router.delete("/{agent_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_agent(agent_id: UUID, session: SessionDep) -> None:
    """Forget an agent (one that stopped cleanly); its runs are no longer watched for crashes."""
    session.delete(get_or_404(session, AgentTable, agent_id, "agent"))
    session.commit()
