"""The ``redis`` queue backend end to end: two ``sluice server start`` replicas on one PostgreSQL
database, claims through Redis (a key prefix of this module's own), four ``sluice agent start``
processes (two per replica) running flows on the ``process`` infrastructure.

Every run is executed exactly once (the flow creates a file named after its run with ``O_EXCL``, so a
second execution fails the run) and neither the queue's nor the deployment's concurrency limit is
ever exceeded (checked on the state histories). Runs are created through both replicas, after the
agents are waiting: their long polls are woken through Redis pub/sub.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from sluice.client import get_client
from tests.e2e.processes import ServerProcess, SluiceProcess, agent_process, final_state, run_sluice
from tests.redis_service import REDIS_URL, delete_prefix, redis_client

pytestmark = pytest.mark.slow
FLOWS = Path(__file__).parent / "agent_flows"
POSTGRES_ADMIN_URLS = ("postgresql://postgres@127.0.0.1:5432/test", "postgresql://root@127.0.0.1:5432/test")
QUEUE = "replicated"
RUNS_PER_DEPLOYMENT = 12
QUEUE_LIMIT = 3
DEPLOYMENT_LIMIT = 2


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    """A fresh PostgreSQL database for both replicas, dropped afterwards."""
    import psycopg

    from tests.conftest import require_service

    for admin_url in POSTGRES_ADMIN_URLS:
        try:
            admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=3)
            break
        except psycopg.OperationalError:
            continue
    else:
        require_service("postgresql", "no PostgreSQL server answers at 127.0.0.1:5432 as postgres or root")
    name = f"sluice_replicas_{secrets.token_hex(4)}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test flows, the homes, the logs and the flows' marker files."""
    root = tmp_path_factory.mktemp("redis-replicas")
    shutil.copytree(FLOWS, root / "project")
    (root / "markers").mkdir()
    return root


@pytest.fixture(scope="module")
def env(workspace: Path, database_url: str) -> Iterator[dict[str, str]]:
    """The environment of every process: the shared database, the redis backend, a key prefix."""
    client = redis_client()
    prefix = f"sluice-e2e-{secrets.token_hex(6)}"
    values = {key: value for key, value in os.environ.items() if not key.startswith("SLUICE_")}
    values.update(
        SLUICE_HOME=str(workspace / "home"),
        SLUICE_DATABASE_URL=database_url,
        SLUICE_QUEUE_BACKEND="redis",
        SLUICE_REDIS_URL=REDIS_URL,
        SLUICE_REDIS_KEY_PREFIX=prefix,
        SLUICE_AGENT_HEARTBEAT_SECONDS="1",
        SLUICE_AGENT_CLAIM_WAIT_SECONDS="10",
    )
    yield values
    delete_prefix(client, prefix)
    client.close()


@pytest.fixture(scope="module")
def replicas(env: dict[str, str], workspace: Path) -> Iterator[list[ServerProcess]]:
    """Two API servers on the same database (the first one migrates it)."""
    started: list[ServerProcess] = []
    try:
        for name in ("a", "b"):
            started.append(ServerProcess(env, workspace / f"server-{name}.log").start())
        yield started
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def agents(env: dict[str, str], workspace: Path, replicas: list[ServerProcess]) -> Iterator[list[SluiceProcess]]:
    """Four agents on the queue, two on each replica."""
    processes = []
    try:
        for number in range(4):
            server = replicas[number % 2]
            agent_env = {**env, "SLUICE_API_URL": server.api_url}
            processes.append(agent_process(agent_env, workspace / f"agent-{number}.log", QUEUE).start())
        yield processes
    finally:
        for process in processes:
            process.stop()


def _max_active(client: Any, run_ids: list[Any]) -> int:
    """The most of these runs active (PENDING until final) at one instant, from their histories."""
    events: list[tuple[datetime, int]] = []
    for run_id in run_ids:
        history = client.read_flow_run_states(run_id)
        events.append((next(entry.timestamp for entry in history if entry.type.value == "PENDING"), 1))
        events.append((next(entry.timestamp for entry in history if entry.type.value == "COMPLETED"), -1))
    active = peak = 0
    for _, change in sorted(events):  # ends sort before starts at equal times
        active += change
        peak = max(peak, active)
    return peak


def test_four_agents_on_two_replicas_run_every_run_exactly_once_within_both_limits(
    env: dict[str, str], workspace: Path, replicas: list[ServerProcess], agents: list[SluiceProcess]
) -> None:
    project, markers = workspace / "project", workspace / "markers"
    first = {**env, "SLUICE_API_URL": replicas[0].api_url}
    for name in ("limited", "free"):
        run_sluice(first, project, "deployment", "build", "flows.py:mark_once", "-n", name, "-q", QUEUE, "--apply")
    with get_client(api_url=replicas[0].api_url) as client_a, get_client(api_url=replicas[1].api_url) as client_b:
        limited = client_a.read_deployment_by_name("mark-once/limited")
        free = client_a.read_deployment_by_name("mark-once/free")
        client_a.update_deployment(limited.id, concurrency_limit=DEPLOYMENT_LIMIT)
        client_b.set_work_queue_concurrency_limit(client_b.read_work_queue_by_name(QUEUE).id, QUEUE_LIMIT)
        runs: dict[Any, list[Any]] = {limited.id: [], free.id: []}
        for number in range(RUNS_PER_DEPLOYMENT):
            for deployment in (limited, free):
                client = (client_a, client_b)[number % 2]  # half the runs through each replica
                created = client.create_flow_run_from_deployment(deployment.id, parameters={"folder": str(markers)})
                runs[deployment.id].append(created.id)
        every_run = runs[limited.id] + runs[free.id]
        for run_id in every_run:
            state = final_state(client_a, run_id, timeout=240)
            assert state.type.value == "COMPLETED", (state, *(agent.output()[-2000:] for agent in agents))
        assert sorted(path.name for path in markers.iterdir()) == sorted(str(run_id) for run_id in every_run)
        histories = {
            run_id: [entry.type.value for entry in client_b.read_flow_run_states(run_id)] for run_id in every_run
        }
        assert set(map(tuple, histories.values())) == {("SCHEDULED", "PENDING", "RUNNING", "COMPLETED")}
        assert _max_active(client_a, runs[limited.id]) <= DEPLOYMENT_LIMIT
        assert _max_active(client_a, every_run) <= QUEUE_LIMIT
        agent_ids = {client_a.read_flow_run(run_id).agent_id for run_id in every_run}
    assert len(agent_ids) >= 2, "the runs were not shared between agents"
    assert all(agent.running for agent in agents)
