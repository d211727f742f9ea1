"""Faults on real processes: the server, the agent or the flow process dies, and nothing is lost.

Each test has its own ``sluice server start`` (SQLite in the test's home) and ``sluice agent start``
with the ``process`` infrastructure, so it may kill either with SIGKILL and start it again on the same
port and database. Agents heartbeat every 0.5 s; the server's heartbeat timeout is 30 s, so crash
detection (which would also end a run CRASHED, with another message) stays out of the way of what
each test checks. Engines check their run's state every 0.5 s.
"""

from __future__ import annotations

import os
import shutil
import signal
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sluice.client import get_client
from tests.e2e.processes import (
    ServerProcess,
    SluiceProcess,
    agent_process,
    deploy_and_run,
    engine_said,
    final_state,
    infrastructure_pid,
    pid_alive,
    state_of,
    wait_for_file,
    wait_until,
)

pytestmark = pytest.mark.slow
FLOWS = Path(__file__).parent / "agent_flows"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the test flows."""
    shutil.copytree(FLOWS, tmp_path / "project")
    return tmp_path / "project"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The environment of every subprocess: no SLUICE_* from outside, a home of the test's own."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("SLUICE_")}
    env.update(
        SLUICE_HOME=str(tmp_path / "home"),
        SLUICE_AGENT_HEARTBEAT_TIMEOUT="30",
        SLUICE_AGENT_HEARTBEAT_SECONDS="0.5",
        SLUICE_AGENT_CLAIM_WAIT_SECONDS="5",
        SLUICE_ENGINE_WATCHDOG_SECONDS="0.5",
    )
    return env


@pytest.fixture
def server(env: dict[str, str], tmp_path: Path) -> Iterator[ServerProcess]:
    """The test's API server; ``env`` points at it."""
    process = ServerProcess(env, tmp_path / "server.log").start()
    env["SLUICE_API_URL"] = process.api_url
    yield process
    process.stop()


@pytest.fixture
def queue() -> str:
    """The work queue of the test."""
    return f"q-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def agent(env: dict[str, str], server: ServerProcess, tmp_path: Path, queue: str) -> Iterator[SluiceProcess]:
    """An agent polling the test's queue."""
    process = agent_process(env, tmp_path / "agent.log", queue).start()
    yield process
    process.stop()


@pytest.fixture
def client(server: ServerProcess) -> Iterator[Any]:
    """A client of the test's server (it reconnects after a restart)."""
    with get_client(api_url=server.api_url) as sluice_client:
        yield sluice_client


def test_a_run_whose_server_dies_as_its_flow_ends_is_completed_with_every_log_line_once_it_is_back(
    env: dict[str, str], project: Path, queue: str, server: ServerProcess, agent: SluiceProcess, client: Any,
    tmp_path: Path,
) -> None:  # fmt: skip
    release, done = tmp_path / "release", tmp_path / "done"
    run_id = deploy_and_run(env, project, queue, "flows.py:log_and_wait", "log-and-wait", path=release, done=done)
    run = state_of(client, run_id, "RUNNING")
    server.kill()
    release.touch()
    wait_for_file(done, "the flow to finish while the server is down")
    wait_until(
        lambda: engine_said(agent, run.name, "cannot reach the Sluice API"),
        "the engine to fail to report to the stopped server",
    )
    server.start()  # the same port and database
    state = final_state(client, run_id)
    assert state.type.value == "COMPLETED", agent.output()
    history = [entry.type.value for entry in client.read_flow_run_states(run_id)]
    assert history == ["SCHEDULED", "PENDING", "RUNNING", "COMPLETED"]
    lines = [log.message for log in client.filter_logs(run_id) if log.message.startswith(("before", "after"))]
    assert lines == [f"before {n}" for n in range(5)] + [f"after {n}" for n in range(5)]


def test_a_run_keeps_the_time_it_really_ended_when_its_state_is_delivered_late(
    env: dict[str, str], project: Path, queue: str, server: ServerProcess, agent: SluiceProcess, client: Any,
    tmp_path: Path,
) -> None:  # fmt: skip
    release, done = tmp_path / "release", tmp_path / "done"
    run_id = deploy_and_run(env, project, queue, "flows.py:log_and_wait", "log-and-wait", path=release, done=done)
    run = state_of(client, run_id, "RUNNING")
    server.kill()
    release.touch()
    wait_for_file(done, "the flow to finish while the server is down")
    finished = datetime.fromtimestamp(done.stat().st_mtime, UTC)
    wait_until(
        lambda: engine_said(agent, run.name, "wait for the API"),
        "the engine to wait for the stopped server with its final state",
    )
    back = datetime.now(UTC)
    server.start()
    state = final_state(client, run_id)
    assert state.type.value == "COMPLETED", agent.output()
    # Dated when the flow ended, while the server was down — not when the server received it.
    assert finished <= state.timestamp < back
    assert client.read_flow_run(run_id).end_time == state.timestamp


def test_an_engine_killed_while_the_server_is_down_is_reported_crashed_by_its_agent_even_after_an_agent_restart(
    env: dict[str, str], project: Path, queue: str, server: ServerProcess, agent: SluiceProcess, client: Any,
    tmp_path: Path,
) -> None:  # fmt: skip
    run_id = deploy_and_run(env, project, queue, "flows.py:wait_for_file", "wait-for-file", path=tmp_path / "never")
    state_of(client, run_id, "RUNNING")
    pid = infrastructure_pid(client, run_id)
    server.kill()
    os.killpg(pid, signal.SIGKILL)  # the engine dies and can report nothing
    wait_until(lambda: "exit code -9" in agent.output(), "the agent to see the engine end")
    agent.kill()
    restarted = agent_process(env, tmp_path / "agent-2.log", queue).start()
    try:
        server.start()
        state = final_state(client, run_id)
        assert state.type.value == "CRASHED", restarted.output()
        assert "exited with code -9" in (state.message or ""), state.message
    finally:
        restarted.stop()


def test_a_run_marked_crashed_on_the_server_stops_its_flow_process(
    env: dict[str, str], project: Path, queue: str, agent: SluiceProcess, client: Any, tmp_path: Path
) -> None:
    run_id = deploy_and_run(env, project, queue, "flows.py:wait_for_file", "wait-for-file", path=tmp_path / "never")
    state_of(client, run_id, "RUNNING")
    pid = infrastructure_pid(client, run_id)
    assert client.set_flow_run_state(run_id, "CRASHED", message="Crashed: marked by an operator").status == "ACCEPT"
    wait_until(lambda: not pid_alive(pid), "the flow process to stop itself", timeout=30)
    state = client.read_flow_run(run_id).state
    assert state.type.value == "CRASHED" and state.message == "Crashed: marked by an operator"
    assert agent.running


def test_reports_an_engine_gave_up_on_are_delivered_by_its_agent_when_the_server_is_back(
    env: dict[str, str], project: Path, queue: str, server: ServerProcess, client: Any, tmp_path: Path
) -> None:
    # The engines of this agent wait one second for the API after their run ends, then exit (code 3).
    agent = agent_process({**env, "SLUICE_ENGINE_REPORT_RETENTION": "1"}, tmp_path / "agent.log", queue).start()
    try:
        release, done = tmp_path / "release", tmp_path / "done"
        run_id = deploy_and_run(env, project, queue, "flows.py:log_and_wait", "log-and-wait", path=release, done=done)
        run = state_of(client, run_id, "RUNNING")
        server.kill()
        release.touch()
        wait_until(lambda: engine_said(agent, run.name, "gave up"), "the engine to give up waiting for the server")
        wait_until(lambda: "exit code 3" in agent.output(), "the agent to see the engine exit")
        server.start()
        state = final_state(client, run_id)
        assert state.type.value == "COMPLETED", agent.output()
        history = [entry.type.value for entry in client.read_flow_run_states(run_id)]
        assert history == ["SCHEDULED", "PENDING", "RUNNING", "COMPLETED"]
        lines = [log.message for log in client.filter_logs(run_id) if log.message.startswith(("before", "after"))]
        assert lines == [f"before {n}" for n in range(5)] + [f"after {n}" for n in range(5)]
    finally:
        agent.stop()
