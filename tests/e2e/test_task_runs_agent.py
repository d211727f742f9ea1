"""Task runs through a real ``sluice server start`` and ``sluice agent start``: a flow fanning out on
Dask with a subflow and a failing task, and an async flow; the API shows each run's tree."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sluice.client import get_client
from tests.e2e.processes import ServerProcess, SluiceProcess, agent_process, deploy_and_run, final_state

pytestmark = pytest.mark.slow
FLOWS = Path(__file__).parent / "agent_flows"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("task-runs-e2e")
    shutil.copytree(FLOWS, root / "project")
    return root


@pytest.fixture(scope="module")
def env(workspace: Path) -> Iterator[dict[str, str]]:
    """The environment of the server, the agent and CLI commands (the server started here)."""
    base = {key: value for key, value in os.environ.items() if not key.startswith("SLUICE_")}
    base.update(SLUICE_HOME=str(workspace / "home"), SLUICE_AGENT_CLAIM_WAIT_SECONDS="5")
    server = ServerProcess(base, workspace / "server.log").start()
    yield {**base, "SLUICE_API_URL": server.api_url}
    server.stop()


@pytest.fixture(scope="module")
def queue() -> str:
    return f"q-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def agent(env: dict[str, str], workspace: Path, queue: str) -> Iterator[SluiceProcess]:
    process = agent_process(env, workspace / "agent.log", queue).start()
    yield process
    process.stop()


@pytest.fixture
def client(env: dict[str, str]) -> Iterator[Any]:
    with get_client(api_url=env["SLUICE_API_URL"]) as sluice_client:
        yield sluice_client


def test_a_dask_flow_with_a_subflow_and_a_failing_task_shows_its_tree_through_the_agent(
    env: dict[str, str], workspace: Path, queue: str, agent: SluiceProcess, client: Any
) -> None:
    barrier = f"barrier-{uuid.uuid4().hex[:8]}"
    run_id = deploy_and_run(
        env, workspace / "project", queue, "task_flows.py:fan_out", "fan-out", parts=4, barrier=barrier
    )
    state = final_state(client, run_id, timeout=240)
    assert state.type.value == "FAILED", agent.output()
    assert state.message == (
        "Flow run encountered an exception. TaskRunsFailed: 1 of 6 submitted task runs failed: 'bad_row-0'"
    )
    tree = client.read_flow_run_tree(run_id)
    runs = {run.name: run for run in tree.task_runs}
    assert sorted(runs) == ["bad_row-0", "part-0", "part-1", "part-2", "part-3", "report-0"]
    assert all(runs[f"part-{index}"].state.type.value == "COMPLETED" for index in range(4))
    assert runs["report-0"].state.type.value == "COMPLETED"
    assert runs["bad_row-0"].state.type.value == "FAILED"
    assert runs["bad_row-0"].state.message == "Task run encountered an exception. ValueError: row 7 cannot be parsed"
    (subflow,) = tree.subflow_runs
    assert subflow.flow_run.parent_task_run_id == runs["report-0"].id
    assert subflow.flow_run.state.type.value == "COMPLETED"
    failure_logs = client.filter_logs(task_run_ids=[runs["bad_row-0"].id], level_ge=40)
    (traceback,) = [log.message for log in failure_logs]
    assert "Traceback (most recent call last)" in traceback
    assert "task_flows.py" in traceback and "in bad_row" in traceback
    part_logs = client.filter_logs(task_run_ids=[runs["part-2"].id])
    assert [log.message for log in part_logs] == ["part 2 started"]  # logged on a Dask worker


def test_an_async_flow_runs_through_the_agent_with_its_task_runs(
    env: dict[str, str], workspace: Path, queue: str, agent: SluiceProcess, client: Any
) -> None:
    run_id = deploy_and_run(env, workspace / "project", queue, "task_flows.py:async_shout", "async-shout", text="hi")
    state = final_state(client, run_id)
    assert state.type.value == "COMPLETED", agent.output()
    names = sorted(run.name for run in client.filter_task_runs(flow_run_ids=[run_id]))
    assert names == ["shout-0", "shout-1"]
    assert "shouted HI!" in [log.message for log in client.filter_logs(run_id)]
