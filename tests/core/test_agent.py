"""The agent in-process on the embedded API (no server): it hands its database to the engines it starts."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from sluice.agent import Agent, legacy_queue_name
from sluice.client import get_client

FLOW = """import os
from sluice import flow


@flow(name="write-env")
def write_env(path: str, variable: str = "GREETING") -> None:
    with open(path, "w") as handle:
        handle.write(os.environ.get(variable, "<unset>"))
"""


@pytest.fixture
def deployment(tmp_path: Path) -> Any:
    """A deployment of ``write-env`` (local path, process infrastructure, an env override) on queue ``q``."""
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "write_env.py").write_text(FLOW)
    with get_client() as client:
        flow = client.create_flow("write-env")
        return client.create_deployment(
            "local",
            flow.id,
            work_queue_name="q",
            path=str(tmp_path / "flows"),
            entrypoint="write_env.py:write_env",
            infrastructure={"type": "process", "stream_output": False},
            infra_overrides={"env.GREETING": "hello from the override"},
        )


def test_run_once_runs_a_claimed_run_on_the_shared_embedded_database(deployment: Any, tmp_path: Path) -> None:
    output = tmp_path / "out.txt"
    with get_client() as client:
        run = client.create_flow_run_from_deployment(deployment.id, parameters={"path": str(output)})
    assert Agent(["q"], prefetch_seconds=0).start(run_once=True) == 1
    with get_client() as client:
        finished = client.read_flow_run(run.id)
    assert finished.state.type.value == "COMPLETED", finished.state.message
    assert output.read_text() == "hello from the override"
    assert finished.infrastructure_pid and finished.agent_id is not None


def test_a_run_whose_infrastructure_type_is_missing_is_crashed_saying_so(deployment: Any) -> None:
    with get_client() as client:
        client.update_deployment(deployment.id, infrastructure={"type": "nomad-job"})
        run = client.create_flow_run_from_deployment(deployment.id, parameters={"path": "x"})
    Agent(["q"], prefetch_seconds=0).start(run_once=True)
    with get_client() as client:
        state = client.read_flow_run(run.id).state
    assert state.type.value == "CRASHED"
    assert (
        "could not be submitted to infrastructure" in state.message
        and "Unknown infrastructure block type 'nomad-job': no installed plugin provides it" in state.message
    )


def test_an_engine_that_exits_without_a_final_state_crashes_the_run_with_its_exit_code(deployment: Any) -> None:
    with get_client() as client:
        client.update_deployment(deployment.id, infra_overrides={"command": '["python", "-c", "raise SystemExit(3)"]'})
        run = client.create_flow_run_from_deployment(deployment.id, parameters={"path": "x"})
    Agent(["q"], prefetch_seconds=0).start(run_once=True)
    with get_client() as client:
        state = client.read_flow_run(run.id).state
    assert state.type.value == "CRASHED"
    assert "exited with code 3" in state.message


def test_tags_make_the_agent_poll_a_legacy_tag_queue() -> None:
    agent = Agent(tags=["etl", "nightly", "etl"])
    assert agent.queues == [legacy_queue_name(["nightly", "etl"])] == ["tags:etl,nightly"]
    agent.start(run_once=True)
    with get_client() as client:
        assert client.read_work_queue_by_name("tags:etl,nightly").filter == ["etl", "nightly"]


def test_an_exit_seen_while_the_api_is_away_is_kept_on_disk_and_reported_by_the_next_agent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sluice.agent_outbox import AgentOutbox
    from sluice.settings import get_settings
    from tests.e2e.processes import free_port

    home = get_settings().home
    with get_client() as client:
        run = client.create_flow_run(client.create_flow("lost-engine").id, state="RUNNING")
    monkeypatch.setenv("SLUICE_API_URL", f"http://127.0.0.1:{free_port()}/api")  # refused: the API is away
    dying = AgentOutbox(home, get_client)
    with get_client() as unreachable:
        dying.report_exit(unreachable, run.id, run.name, -9)
    dying.stop()  # the agent dies before the API is back
    monkeypatch.delenv("SLUICE_API_URL")
    with get_client() as client:
        assert client.read_flow_run(run.id).state.type.value == "RUNNING"
    restarted = AgentOutbox(home, get_client)
    restarted.start()
    assert restarted.sender.wait_empty(time.monotonic() + 60)
    with get_client() as client:
        state = client.read_flow_run(run.id).state
    assert state.type.value == "CRASHED"
    assert state.message == (
        "Flow run infrastructure exited with code -9 without reporting a final state (the run was RUNNING)."
    )


def test_an_engine_s_undelivered_reports_are_delivered_by_its_agent_before_its_exit() -> None:
    from sluice.agent_outbox import AgentOutbox
    from sluice.reporting import logs_entry, outbox_folder, state_entry
    from sluice.runner import new_state
    from sluice.settings import get_settings
    from sluice.spool import Spool

    home = get_settings().home
    with get_client() as client:
        run = client.create_flow_run(client.create_flow("gave-up").id, state="RUNNING")
    # what an engine that gave up waiting for the API left on the agent's host
    left_behind = Spool(outbox_folder(home, run.id))
    record = {"flow_run_id": str(run.id), "message": "the last line", "timestamp": "2026-01-01T00:00:00+00:00"}
    left_behind.append(logs_entry([record]))
    left_behind.append(state_entry(run.id, new_state("COMPLETED")))
    outbox = AgentOutbox(home, get_client)
    with get_client() as client:
        outbox.report_exit(client, run.id, run.name, 3)
        assert outbox.sender.wait_empty(time.monotonic() + 60)
        assert client.read_flow_run(run.id).state.type.value == "COMPLETED"
        assert [log.message for log in client.filter_logs(run.id)] == ["the last line"]
        assert "CRASHED" not in [entry.type.value for entry in client.read_flow_run_states(run.id)]
    assert not left_behind.folder.exists()


class DeploymentReadsRefused(httpx.BaseTransport):
    """The embedded API, but the first ``refusals`` reads of a deployment are refused (a server restarting)."""

    def __init__(self, refusals: int) -> None:
        from sluice.embedded import EmbeddedTransport, embedded_app
        from sluice.settings import get_settings

        self.refusals = refusals
        self.refused = 0
        self.inner = EmbeddedTransport(embedded_app(get_settings()), timeout=60)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and "/deployments/" in request.url.path and self.refused < self.refusals:
            self.refused += 1
            raise httpx.ConnectError("connection refused", request=request)
        return self.inner.handle_request(request)


def test_a_short_outage_while_the_agent_prepares_a_run_is_waited_out(deployment: Any, tmp_path: Path) -> None:
    from sluice.client import SluiceClient

    output = tmp_path / "out.txt"
    with get_client() as client:
        run = client.create_flow_run_from_deployment(deployment.id, parameters={"path": str(output)})
    restarting = DeploymentReadsRefused(refusals=2)
    agent = Agent(["q"], prefetch_seconds=0, client_factory=lambda: SluiceClient(transport=restarting))
    assert agent.start(run_once=True) == 1
    with get_client() as client:
        state = client.read_flow_run(run.id).state
    assert state.type.value == "COMPLETED", state.message
    assert restarting.refused == 2
