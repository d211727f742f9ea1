"""``/api/agents``: registration, heartbeats with the runs being cancelled, listing."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

import sluice_queue_sql
from sluice.errors import ObjectNotFound


@pytest.fixture(autouse=True)
def _sql_backend(sluice_plugin_manager: Any) -> None:
    sluice_plugin_manager.register(sluice_queue_sql, name="sql", distribution="sluice-queue-sql")


def test_registering_an_agent_creates_its_queues_and_counts_as_a_heartbeat(client: Any) -> None:
    agent = client.register_agent("agent-1", ["alpha", "beta"])
    assert agent.name == "agent-1" and agent.last_heartbeat is not None
    assert {queue.name for queue in client.filter_work_queues()} >= {"alpha", "beta"}


def test_registering_again_with_the_same_id_keeps_the_agent(client: Any) -> None:
    agent_id = uuid.uuid4()
    client.register_agent("agent-1", ["alpha"], agent_id=agent_id)
    again = client.register_agent("agent-1b", ["alpha"], agent_id=agent_id)
    assert again.id == agent_id and again.name == "agent-1b"
    assert [agent.id for agent in client.filter_agents()] == [agent_id]


def test_a_heartbeat_moves_last_heartbeat_and_lists_the_agents_cancelling_runs(client: Any, deployment: Any) -> None:
    agent = client.register_agent("agent-1", ["etl-queue"])
    run = client.create_flow_run_from_deployment(deployment.id)
    client.claim_flow_runs(["etl-queue"], agent.id)
    assert client.agent_heartbeat(agent.id).cancelling_flow_run_ids == []
    client.set_flow_run_state(run.id, "RUNNING")
    client.set_flow_run_state(run.id, "CANCELLING")
    answer = client.agent_heartbeat(agent.id)
    assert answer.cancelling_flow_run_ids == [run.id]
    assert answer.agent.last_heartbeat >= agent.last_heartbeat


def test_a_heartbeat_lists_the_runs_the_agent_claimed_and_has_not_started(client: Any, deployment: Any) -> None:
    agent = client.register_agent("agent-1", ["etl-queue"])
    run = client.create_flow_run_from_deployment(deployment.id)
    assert client.agent_heartbeat(agent.id).pending_flow_run_ids == []
    client.claim_flow_runs(["etl-queue"], agent.id)  # as if its answer were lost on the way
    assert client.agent_heartbeat(agent.id).pending_flow_run_ids == [run.id]
    client.set_flow_run_state(run.id, "RUNNING")
    assert client.agent_heartbeat(agent.id).pending_flow_run_ids == []


def test_a_heartbeat_of_an_unknown_agent_is_a_404_asking_to_register(client: Any) -> None:
    with pytest.raises(ObjectNotFound, match="register it again"):
        client.agent_heartbeat(uuid.uuid4())


def test_reading_an_unknown_agent_is_a_404(api: Any) -> None:
    answer = api.get(f"/api/agents/{uuid.uuid4()}")
    assert answer.status_code == 404 and "not found" in answer.json()["detail"]
