"""The agent against a real ``sluice server start``, with flows run by the ``process`` infrastructure.

One server for the module (SQLite in its own home, heartbeat timeout 5 s); each test deploys a flow
on a queue of its own and starts an agent for it (heartbeat every 0.5 s). Everything runs twice: with
the ``sql`` queue backend and with ``redis``.
"""

from __future__ import annotations

import os
import shutil
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sluice.client import get_client
from tests.e2e.processes import (
    ServerProcess,
    SluiceProcess,
    agent_process,
    final_state,
    infrastructure_pid,
    pid_alive,
    run_id_from,
    run_sluice,
    state_of,
    wait_until,
)

pytestmark = pytest.mark.slow
FLOWS = Path(__file__).parent / "agent_flows"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the test flows, the server's home and the logs."""
    root = tmp_path_factory.mktemp("agent-e2e")
    shutil.copytree(FLOWS, root / "project")
    return root


@pytest.fixture(scope="module", params=["sql", "redis"])
def base_env(request: pytest.FixtureRequest, workspace: Path) -> Iterator[dict[str, str]]:
    """The environment of every subprocess: no SLUICE_* from outside, a home of its own, and the queue
    backend (each test runs with ``sql`` and with ``redis``, under a key prefix of its own)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("SLUICE_")}
    env.update(
        SLUICE_HOME=str(workspace / f"home-{request.param}"),
        SLUICE_AGENT_HEARTBEAT_TIMEOUT="5",
        SLUICE_AGENT_HEARTBEAT_SECONDS="0.5",
        SLUICE_AGENT_CLAIM_WAIT_SECONDS="5",
        SLUICE_QUEUE_BACKEND=request.param,
    )
    if request.param != "redis":
        yield env
        return
    from tests.redis_service import REDIS_URL, delete_prefix, redis_client

    client = redis_client()
    env.update(SLUICE_REDIS_URL=REDIS_URL, SLUICE_REDIS_KEY_PREFIX=f"sluice-e2e-{uuid.uuid4().hex[:12]}")
    yield env
    delete_prefix(client, env["SLUICE_REDIS_KEY_PREFIX"])
    client.close()


@pytest.fixture(scope="module")
def server(base_env: dict[str, str], workspace: Path) -> Iterator[ServerProcess]:
    """The module's API server."""
    process = ServerProcess(base_env, workspace / "server.log").start()
    yield process
    process.stop()


@pytest.fixture
def env(base_env: dict[str, str], server: ServerProcess) -> dict[str, str]:
    """The environment of CLI commands and agents: the server's API URL."""
    return {**base_env, "SLUICE_API_URL": server.api_url}


@pytest.fixture
def client(server: ServerProcess) -> Iterator[Any]:
    """A client of the module's server."""
    with get_client(api_url=server.api_url) as sluice_client:
        yield sluice_client


@pytest.fixture
def queue() -> str:
    """A work queue for this test only."""
    return f"q-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def agent(env: dict[str, str], workspace: Path, queue: str) -> Iterator[SluiceProcess]:
    """An agent polling the test's queue."""
    process = agent_process(env, workspace / f"agent-{queue}.log", queue).start()
    yield process
    process.stop()


def deploy(env: dict[str, str], workspace: Path, entrypoint: str, name: str, queue: str) -> None:
    """Build and apply ``entrypoint`` from the test flows as ``name`` on ``queue``."""
    project = workspace / "project"
    run_sluice(
        env, project, "deployment", "build", entrypoint, "-n", name, "-q", queue, "-o", f"{name}.yaml", "--apply"
    )


def start_waiting_run(env: dict[str, str], workspace: Path, queue: str, release: Path) -> str:
    """Deploy the wait-for-file flow and create a run that waits for ``release``; its id."""
    deploy(env, workspace, "flows.py:wait_for_file", queue, queue)
    created = run_sluice(env, workspace, "deployment", "run", f"wait-for-file/{queue}", "--param", f"path={release}")
    return run_id_from(created)


def test_a_flow_that_raises_ends_failed_with_the_exception_after_its_retries(
    env: dict[str, str], workspace: Path, queue: str, agent: SluiceProcess, client: Any, tmp_path: Path
) -> None:
    deploy(env, workspace, "flows.py:always_fails", queue, queue)
    marker = tmp_path / "attempts.txt"
    run_id = run_id_from(
        run_sluice(env, workspace, "deployment", "run", f"always-fails/{queue}", "--param", f"marker={marker}")
    )
    state = final_state(client, run_id)
    assert state.type.value == "FAILED", agent.output()
    assert "ValueError: the flow failed on purpose" in (state.message or "")
    assert marker.read_text().count("attempt") == 3  # the first attempt and its two retries
    history = [(entry.type.value, entry.name) for entry in client.read_flow_run_states(run_id)]
    assert history.count(("SCHEDULED", "AwaitingRetry")) == 2
    assert client.read_flow_run(run_id).run_count == 3


def test_cancelling_a_running_run_kills_its_process(
    env: dict[str, str], workspace: Path, queue: str, agent: SluiceProcess, client: Any, tmp_path: Path
) -> None:
    from sluice_process.process import process_group_alive

    run_id = start_waiting_run(env, workspace, queue, tmp_path / "never")
    run = state_of(client, run_id, "RUNNING")
    identifier = wait_until(lambda: client.read_flow_run(run_id).infrastructure_pid, "the infrastructure id")
    pid = int(identifier.rpartition(":")[2])
    assert process_group_alive(pid)
    assert "CANCELLING" in run_sluice(env, workspace, "flow-run", "cancel", run_id)
    state = final_state(client, run_id)
    assert state.type.value == "CANCELLED", agent.output()
    wait_until(lambda: not process_group_alive(pid), "the flow run's process to end")
    assert run.agent_id is not None


def test_a_server_restart_mid_run_leaves_the_run_to_complete_with_a_consistent_history(
    env: dict[str, str], workspace: Path, queue: str, agent: SluiceProcess, server: ServerProcess, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    run_id = start_waiting_run(env, workspace, queue, release)
    with get_client(api_url=server.api_url) as client:
        state_of(client, run_id, "RUNNING")
    assert server.stop() == 0
    server.start()  # the same port and database
    release.touch()
    with get_client(api_url=server.api_url) as client:
        state = final_state(client, run_id)
        assert state.type.value == "COMPLETED", agent.output()
        history = [entry.type.value for entry in client.read_flow_run_states(run_id)]
        logs = [log.message for log in client.filter_logs(run_id)]
    assert history == ["SCHEDULED", "PENDING", "RUNNING", "COMPLETED"]
    assert "released" in logs
    assert agent.running


def test_killing_the_agent_stops_its_flow_process_and_the_run_ends_crashed(
    env: dict[str, str], workspace: Path, queue: str, agent: SluiceProcess, client: Any, tmp_path: Path
) -> None:
    run_id = start_waiting_run(env, workspace, queue, tmp_path / "never")
    state_of(client, run_id, "RUNNING")
    pid = infrastructure_pid(client, run_id)
    agent.kill()
    wait_until(lambda: not pid_alive(pid), "the orphaned flow process to stop itself", timeout=30)
    state = final_state(client, run_id, timeout=30)
    assert state.type.value == "CRASHED"
    assert "its agent went away" in (state.message or ""), state.message


def test_an_agent_stopped_with_sigterm_waits_for_its_run_then_exits_zero(
    env: dict[str, str], workspace: Path, queue: str, agent: SluiceProcess, client: Any, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    run_id = start_waiting_run(env, workspace, queue, release)
    state_of(client, run_id, "RUNNING")
    agent.signal(signal.SIGTERM)
    wait_until(lambda: "waiting up to" in agent.output(), "the agent to start its shutdown")
    release.touch()
    assert agent.process is not None and agent.process.wait(60) == 0
    assert final_state(client, run_id).type.value == "COMPLETED"
