"""Chaos: the PostgreSQL database of two API replicas crashes and restarts in the middle of claims.

A private PostgreSQL instance (``tests/chaos/postgres.py``; never the shared service) holds the
database of two ``sluice server start`` replicas; three agents (two on one replica, one on the other)
claim a first burst of runs. As soon as the first flows start — other runs still being claimed,
started or reported — PostgreSQL is stopped with ``pg_ctl stop -m immediate`` (connections cut, as in
a crash), and started again once both replicas answer that their database is unavailable. A second
burst follows. Claims that failed must have rolled back (no run stranded in PENDING), every run
executes exactly once, and the replicas and agents recover by themselves.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sluice.errors import APIUnavailable
from tests.chaos.postgres import PrivatePostgres, postgres_binaries_missing
from tests.chaos.settle import Settlement
from tests.chaos.site import ChaosSite
from tests.conftest import require_service
from tests.e2e.processes import ServerProcess, wait_until

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

BURST = 6


@pytest.fixture
def postgres() -> Iterator[PrivatePostgres]:
    """A started PostgreSQL instance of the test's own, stopped and removed afterwards."""
    missing = postgres_binaries_missing()
    if missing:
        require_service("postgresql binaries", missing)
    instance = PrivatePostgres()
    try:
        yield instance.start()
    finally:
        instance.close()


def database_unavailable(server: ServerProcess) -> bool:
    """True once the server answers that its database cannot be reached."""
    try:
        return httpx.get(f"{server.api_url}/health", timeout=5).status_code == 503
    except httpx.HTTPError:
        return False


def create_run(site: ChaosSite, client: Any, deployment: Any) -> Any:
    """A new run, created as soon as the API can take it (a client retrying through an outage)."""
    created: list[Any] = []

    def attempt() -> bool:
        try:
            created.append(site.run(client, deployment, lines=2))
        except APIUnavailable:
            return False
        return True

    wait_until(attempt, "the API to take a new run", timeout=60, interval=0.2)
    return created[0]


def test_claims_across_a_postgres_crash_strand_no_run_and_run_each_once_while_replicas_and_agents_recover(
    site: ChaosSite, queue: str, postgres: PrivatePostgres
) -> None:
    url = postgres.create_database("sluice")
    replicas = [site.server(f"replica-{n}", SLUICE_DATABASE_URL=url) for n in (1, 2)]
    with site.client(replicas[0]) as first, site.client(replicas[1]) as second:
        clients = [first, second]
        deployment = site.deploy(first, queue)
        agents = [site.agent(replicas[n % 2], queue, name=f"agent-{n}") for n in range(3)]
        runs = [site.run(clients[n % 2], deployment, lines=2) for n in range(BURST)]
        wait_until(lambda: site.ledger.starts(), "the first flows to start")

        postgres.stop("immediate")
        for replica in replicas:
            wait_until(lambda replica=replica: database_unavailable(replica), f"{replica.log.name} to see the outage")
        wait_until(lambda: any("claim failed" in agent.output() for agent in agents), "a claim to fail")
        postgres.start()
        runs += [create_run(site, clients[n % 2], deployment) for n in range(BURST)]

        settlement = Settlement(first, site.ledger)
        settlement.expect(runs, "COMPLETED", lines=2)
        settlement.check([deployment.id], timeout=90, context=site.logs())
        assert all(process.running for process in [*replicas, *agents]), site.logs()
