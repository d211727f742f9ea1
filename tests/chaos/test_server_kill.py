"""Chaos: the API server is killed (``kill -9``) while runs are going, and their flows end while it is down."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.settle import Settlement
from tests.chaos.site import ChaosSite
from tests.e2e.processes import wait_until

pytestmark = [pytest.mark.chaos, pytest.mark.slow]


def test_runs_that_end_while_the_server_is_down_are_completed_once_with_every_log_line_after_its_restart(
    site: ChaosSite, queue: str
) -> None:
    server = site.server()
    release = site.file("release")
    with site.client(server) as client:
        client.create_work_queue(queue, concurrency_limit=3)
        deployment = site.deploy(client, queue)
        site.agent(server, queue)
        runs = [site.run(client, deployment, lines=4, release=release) for _ in range(3)]
        site.wait_started(*(run.id for run in runs))

        server.kill()
        Path(release).touch()  # the flows log their second half and end while nothing can hear them
        wait_until(lambda: site.ledger.count("end") == 3, "the flows to end while the server is down")
        server.start()  # the same port and database

        settlement = Settlement(client, site.ledger)
        settlement.expect(runs, "COMPLETED", lines=8)
        settlement.check([deployment.id], context=site.logs())
        # The queue's three slots are free again: a new run is claimed and completes.
        after = site.run(client, deployment, lines=1)
        settlement.expect([after], "COMPLETED", lines=1)
        settlement.check([deployment.id], context=site.logs())
