"""Chaos: a server is killed (``kill -9``) while its scheduler inserts the runs of many deployments.

The deployments are created on a server without services; a second server on the same database then
schedules them — one deployment per transaction, 300 runs each — and is killed as soon as the first
runs appear, before the last deployment got its runs. Restarted, it must leave every deployment with
exactly its 300 scheduled times: none twice, none skipped, each run with its one history entry.
Runs on SQLite and on PostgreSQL (a database of its own on the service at 127.0.0.1:5432).
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.pool import NullPool

from tests.chaos.site import ChaosSite
from tests.conftest import require_service
from tests.e2e.processes import wait_until

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

DEPLOYMENTS = 12
RUNS_EACH = 300
INTERVAL = timedelta(minutes=1)
SCHEDULER = {
    "SLUICE_SCHEDULER_MAX_RUNS": str(RUNS_EACH),
    "SLUICE_SCHEDULER_MIN_RUNS": "3",
    "SLUICE_SCHEDULER_DEPLOYMENT_BATCH_SIZE": "1",
    "SLUICE_SCHEDULER_LOOP_SECONDS": "0.5",
}


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, site: ChaosSite) -> Iterator[str]:
    """An empty database for the test's servers: a SQLite file, or a PostgreSQL database dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{site.folder / 'scheduler.db'}"
        return
    import psycopg

    admin_url = "postgresql://postgres@127.0.0.1:5432/test"
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        require_service("postgresql", f"no PostgreSQL server answers at 127.0.0.1:5432 ({exc})")
    name = f"sluice_chaos_{secrets.token_hex(6)}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        site.close()  # no server may hold a connection while it is dropped
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def scheduled_runs(database: Any) -> dict[str, list[datetime]]:
    """The expected start times of the runs of each deployment, in order."""
    from sluice.server.database.tables import FlowRunTable

    query = select(FlowRunTable.deployment_id, FlowRunTable.expected_start_time).order_by(
        FlowRunTable.expected_start_time
    )
    with database.connect() as connection:
        times: dict[str, list[datetime]] = defaultdict(list)
        for deployment_id, when in connection.execute(query):
            times[str(deployment_id)].append(when)
        return times


def count(database: Any, sql: str) -> int:
    """One number from the database."""
    with database.connect() as connection:
        return int(connection.execute(text(sql)).scalar_one())


def test_a_scheduler_killed_while_it_inserts_creates_every_scheduled_time_exactly_once_after_its_restart(
    site: ChaosSite, queue: str, database_url: str
) -> None:
    builder = site.server("builder", SLUICE_DATABASE_URL=database_url, SLUICE_SERVER_RUN_SERVICES="false")
    with site.client(builder) as client:
        schedule = {"type": "interval", "interval": INTERVAL.total_seconds()}
        deployment_ids = {str(site.deploy(client, f"{queue}-{n}", schedule=schedule).id) for n in range(DEPLOYMENTS)}
    builder.stop()
    database = create_engine(database_url, poolclass=NullPool)
    try:
        total = DEPLOYMENTS * RUNS_EACH
        scheduler = site.server("scheduler", SLUICE_DATABASE_URL=database_url, **SCHEDULER)
        at_kill = wait_until(lambda: count(database, "SELECT count(*) FROM flow_run"), "the first runs", interval=0.01)
        scheduler.kill()
        assert at_kill < total, "the scheduler was done before it could be killed: give it more deployments"

        scheduler.start()  # the same port and database
        wait_until(lambda: count(database, "SELECT count(*) FROM flow_run") >= total, f"{total} runs", timeout=90)

        times = scheduled_runs(database)
        assert set(times) == deployment_ids
        for deployment_id, starts in times.items():
            assert len(starts) == RUNS_EACH, f"deployment {deployment_id} has {len(starts)} runs"
            steps = {later - earlier for earlier, later in pairwise(starts)}
            assert steps == {INTERVAL}, f"deployment {deployment_id}: duplicated or missing times ({steps})"
        history = "SELECT count(*) FROM flow_run_state"
        assert count(database, history) == total, "each run has exactly one history entry"
        assert count(database, "SELECT count(*) FROM flow_run WHERE state_type <> 'SCHEDULED'") == 0
        assert count(database, "SELECT count(DISTINCT idempotency_key) FROM flow_run") == total
    finally:
        database.dispose()
