"""The walk-through with a real server and a real agent: the example flows of ``make run``.

``sluice server start`` (services on: the scheduler creates the cron runs) and ``sluice agent start``
run as subprocesses on a free loopback port with their own ``SLUICE_HOME``; every other step is the
``sluice`` console script, as a user types it.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sluice.client import get_client
from tests.e2e.processes import ServerProcess, agent_process, final_state, run_id_from, run_sluice, wait_until

pytestmark = pytest.mark.slow
EXAMPLES = Path(__file__).parents[2] / "examples"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the examples folder."""
    shutil.copytree(EXAMPLES / "flows", tmp_path / "project" / "flows")
    return tmp_path / "project"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """No SLUICE_* from outside; a home of the test's own."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("SLUICE_")}
    env["SLUICE_HOME"] = str(tmp_path / "home")
    env["SLUICE_AGENT_HEARTBEAT_SECONDS"] = "1"
    return env


@pytest.fixture
def server(env: dict[str, str], tmp_path: Path) -> Iterator[ServerProcess]:
    """The API server, with its background services."""
    process = ServerProcess(env, tmp_path / "server.log").start()
    env["SLUICE_API_URL"] = process.api_url
    yield process
    process.stop()


def test_build_apply_run_and_a_scheduled_run_with_a_server_and_an_agent(
    env: dict[str, str], project: Path, server: ServerProcess, tmp_path: Path
) -> None:
    built = run_sluice(
        env, project, "deployment", "build", "flows/hello.py:hello", "-n", "every-minute", "-q", "default",
        "--cron", "* * * * *", "--apply",
    )  # fmt: skip
    assert "successfully created" in built
    agent = agent_process(env, tmp_path / "agent.log", "default").start()
    try:
        run_id = run_id_from(
            run_sluice(env, project, "deployment", "run", "hello/every-minute", "--param", "name=Arthur")
        )
        with get_client(api_url=server.api_url) as client:
            state = final_state(client, run_id)
            assert state.type.value == "COMPLETED", agent.output()
            assert "Hello, Arthur!" in [log.message for log in client.filter_logs(run_id)]

            # The scheduler keeps the cron's next runs created ahead, SCHEDULED for the agent.
            deployment = client.read_deployment_by_name("hello/every-minute")
            try:
                upcoming = wait_until(
                    lambda: client.filter_flow_runs(deployment_ids=[deployment.id], state_types=["SCHEDULED"]),
                    "the scheduler to create the cron's runs",
                )
            except AssertionError as exc:
                raise AssertionError(f"{exc}; server log:\n{server.output()[-3000:]}") from None
            assert all(run.auto_scheduled and run.expected_start_time.second == 0 for run in upcoming)

            # A run due in two seconds is picked up when it is due, not before.
            due = datetime.now(UTC) + timedelta(seconds=2)
            scheduled = client.create_flow_run_from_deployment(
                deployment.id, state={"type": "SCHEDULED", "scheduled_time": due}
            )
            assert final_state(client, scheduled.id).type.value == "COMPLETED", agent.output()
            finished = client.read_flow_run(scheduled.id)
            assert finished.expected_start_time == due and finished.start_time >= due
            assert finished.agent_id is not None and finished.infrastructure_pid
    finally:
        agent.stop()

    listed = json.loads(run_sluice(env, project, "flow-run", "ls", "--state", "COMPLETED", "--json"))
    assert {run_id, str(scheduled.id)} <= {run["id"] for run in listed}
    inspected = json.loads(run_sluice(env, project, "flow-run", "inspect", run_id, "--json"))
    assert [entry["type"] for entry in inspected["state_history"]] == ["SCHEDULED", "PENDING", "RUNNING", "COMPLETED"]
    assert "Hello, Arthur!" in run_sluice(env, project, "flow-run", "logs", run_id)
    queues = json.loads(run_sluice(env, project, "work-queue", "ls", "--json"))
    assert [queue["last_polled"] is not None for queue in queues if queue["name"] == "default"] == [True]
