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


def test_a_server_shutting_down_judges_no_agent_while_it_refuses_their_heartbeats(tmp_path: Any) -> None:
    """uvicorn stops accepting connections at SIGTERM but finishes open requests (a long poll here)
    before the app's lifespan ends: meanwhile agents cannot heartbeat, so their silence is not theirs."""
    import os
    import signal
    import threading

    from sqlalchemy import select

    from sluice.client import get_client
    from sluice.server.database.engine import Database
    from sluice.server.database.tables import FlowRunTable
    from tests.e2e.processes import ServerProcess, wait_until

    env = {key: value for key, value in os.environ.items() if not key.startswith("SLUICE_")}
    env.update(SLUICE_HOME=str(tmp_path / "home"), SLUICE_AGENT_HEARTBEAT_TIMEOUT="1")
    server = ServerProcess(env, tmp_path / "server.log").start()
    try:
        with get_client(api_url=server.api_url) as client:
            deployment = client.create_deployment("d", client.create_flow("drained").id, work_queue_name="busy")

            def running_run_of(name: str) -> tuple[Any, Any]:
                agent = client.register_agent(name, ["busy"])
                run = client.create_flow_run_from_deployment(deployment.id)
                assert [r.id for r in client.claim_flow_runs(["busy"], agent.id)] == [run.id]
                client.set_flow_run_state(run.id, "RUNNING")
                return agent, run

            steady, run = running_run_of("steady")
            _, canary = running_run_of("canary")  # never heartbeats: crashed once the server judges agents

            def judging_and_steady_alive() -> bool:
                client.agent_heartbeat(steady.id)
                return client.read_flow_run(canary.id).state.type.value == "CRASHED"

            wait_until(judging_and_steady_alive, "crash detection to judge agents", timeout=60)
            long_poll = threading.Thread(
                target=lambda: client.claim_flow_runs(["idle"], uuid.uuid4(), wait_seconds=4), daemon=True
            )
            long_poll.start()
            wait_until(lambda: client.agent_heartbeat(steady.id) and long_poll.is_alive(), "the long poll to start")
            server.signal(signal.SIGTERM)  # the long poll keeps it draining about 4 s: several timeouts
            assert server.process is not None and server.process.wait(60) == 0
    finally:
        server.stop()
    database = Database(f"sqlite:///{tmp_path / 'home' / 'sluice.db'}")
    try:
        with database.read_session() as session:
            state = session.scalar(select(FlowRunTable.state_type).where(FlowRunTable.id == run.id))
    finally:
        database.dispose()
    assert state == "RUNNING", server.output()
