"""Chaos: a flow's engine process is killed (``kill -9``) while its agent and other runs go on."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.chaos.settle import Settlement
from tests.chaos.site import ChaosSite
from tests.e2e.processes import infrastructure_pid, wait_until

pytestmark = [pytest.mark.chaos, pytest.mark.slow]


def test_a_killed_flow_process_crashes_its_run_with_the_exit_and_takes_its_children_while_the_others_complete(
    site: ChaosSite, queue: str
) -> None:
    server = site.server()
    hold = site.file("hold")
    with site.client(server) as client:
        deployment = site.deploy(client, queue)
        agent = site.agent(server, queue)
        victim = site.run(client, deployment, lines=2, release=hold, child=True)
        others = [site.run(client, deployment, lines=2, release=hold) for _ in range(2)]
        site.wait_started(victim.id, *(run.id for run in others))
        wait_until(lambda: site.ledger.count("child", victim.id) == 1, "the flow to start its helper process")
        engine = infrastructure_pid(client, victim.id)

        os.kill(engine, signal.SIGKILL)  # the engine alone: the helper it started is left without it
        settlement = Settlement(client, site.ledger)
        settlement.expect([victim], "CRASHED", lines=2, message="exited with code -9")
        settlement.wait()
        Path(hold).touch()
        settlement.expect(others, "COMPLETED", lines=4)
        settlement.check([deployment.id], context=site.logs())

        assert agent.running
        after = site.run(client, deployment, lines=1)
        settlement.expect([after], "COMPLETED", lines=1)
        settlement.check([deployment.id], context=site.logs())
