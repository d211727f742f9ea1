"""The crash-detection service: runs of agents whose heartbeat expired become CRASHED."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest

import sluice_queue_sql
from sluice.server.database.tables import AgentTable
from sluice.server.database.types import utcnow
from sluice.server.services.crash_detection import CrashDetection


@pytest.fixture(autouse=True)
def _sql_backend(sluice_plugin_manager: Any) -> None:
    sluice_plugin_manager.register(sluice_queue_sql, name="sql", distribution="sluice-queue-sql")


def _claimed_run(client: Any, deployment: Any, agent: Any, state: str | None = None) -> Any:
    run = client.create_flow_run_from_deployment(deployment.id)
    assert [r.id for r in client.claim_flow_runs(["etl-queue"], agent.id)] == [run.id]
    if state:
        client.set_flow_run_state(run.id, state)
    return run


def test_runs_of_a_silent_agent_become_crashed_with_the_reason(
    app: Any, client: Any, settings: Any, deployment: Any
) -> None:
    agent = client.register_agent("silent", ["etl-queue"])
    pending = _claimed_run(client, deployment, agent)
    running = _claimed_run(client, deployment, agent, "RUNNING")
    service = CrashDetection(app.state.database, settings.model_copy(update={"agent_heartbeat_timeout": 30}))
    assert service.crash_runs_of_silent_agents(utcnow()) == 0  # heard from just now
    assert service.crash_runs_of_silent_agents(utcnow() + timedelta(seconds=31)) == 2
    for run in (pending, running):
        state = client.read_flow_run(run.id).state
        assert state.type.value == "CRASHED"
        assert "stopped heartbeating" in state.message and "silent" in state.message


def test_runs_of_a_live_agent_and_finished_runs_are_left_alone(
    app: Any, client: Any, settings: Any, deployment: Any
) -> None:
    alive = client.register_agent("alive", ["etl-queue"])
    run = _claimed_run(client, deployment, alive, "RUNNING")
    silent = client.register_agent("silent", ["etl-queue"], agent_id=uuid.uuid4())
    done = _claimed_run(client, deployment, silent, "RUNNING")
    client.set_flow_run_state(done.id, "COMPLETED")
    service = CrashDetection(app.state.database, settings.model_copy(update={"agent_heartbeat_timeout": 30}))
    client.agent_heartbeat(alive.id)
    assert service.crash_runs_of_silent_agents(utcnow() + timedelta(seconds=5)) == 0
    assert client.read_flow_run(run.id).state.type.value == "RUNNING"
    assert client.read_flow_run(done.id).state.type.value == "COMPLETED"


def _heard_from_last(app: Any, agent: Any, seconds_ago: float) -> None:
    """Backdate the agent's last heartbeat."""
    from sqlalchemy import update

    with app.state.database.session() as session:
        when = utcnow() - timedelta(seconds=seconds_ago)
        session.execute(update(AgentTable).where(AgentTable.id == agent.id).values(last_heartbeat=when))
        session.commit()


def test_agents_silent_during_an_outage_of_the_database_get_a_full_timeout_once_it_ends(
    app: Any, client: Any, settings: Any, deployment: Any
) -> None:
    agent = client.register_agent("cut-off", ["etl-queue"])
    run = _claimed_run(client, deployment, agent, "RUNNING")
    service = CrashDetection(app.state.database, settings.model_copy(update={"agent_heartbeat_timeout": 30}))
    service.started_at = utcnow() - timedelta(hours=1)  # up for long…
    service.last_loop = utcnow() - timedelta(seconds=60)  # …but no loop could run for the last minute
    _heard_from_last(app, agent, 65)  # the agent's heartbeats failed all along too
    asyncio.run(service.run_once())
    assert client.read_flow_run(run.id).state.type.value == "RUNNING"
    assert service.crash_runs_of_silent_agents(utcnow() + timedelta(seconds=29)) == 0
    assert service.crash_runs_of_silent_agents(utcnow() + timedelta(seconds=31)) == 1  # still silent a timeout later


def test_a_loop_that_runs_on_time_judges_silent_agents_at_once(
    app: Any, client: Any, settings: Any, deployment: Any
) -> None:
    agent = client.register_agent("gone", ["etl-queue"])
    run = _claimed_run(client, deployment, agent, "RUNNING")
    service = CrashDetection(app.state.database, settings.model_copy(update={"agent_heartbeat_timeout": 30}))
    service.started_at = utcnow() - timedelta(hours=1)
    service.last_loop = utcnow() - timedelta(seconds=1)
    _heard_from_last(app, agent, 65)
    asyncio.run(service.run_once())
    assert client.read_flow_run(run.id).state.type.value == "CRASHED"
