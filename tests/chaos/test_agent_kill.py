"""Chaos: an agent is killed (``kill -9``) while its runs are in flight.

Its flows must stop — engines and the processes they started — and their runs end CRASHED, reported by
the flows themselves when their lifeline from the agent closes (long before crash detection's 20 s). A
new agent then runs new work, and the crashed runs an operator sends back to the queue, each of which
never runs beside what is left of its first execution.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sluice.schemas import StateCreate
from tests.chaos.settle import Settlement
from tests.chaos.site import ChaosSite
from tests.e2e.processes import wait_until

pytestmark = [pytest.mark.chaos, pytest.mark.slow]


def state_of(client: Any, run: Any) -> str:
    """The run's state type now."""
    return client.read_flow_run(run.id).state.type.value


def test_a_killed_agents_flows_stop_and_crash_their_runs_and_a_new_agent_runs_new_work_and_the_retries_alone(
    site: ChaosSite, queue: str
) -> None:
    server = site.server()
    hold, cleanup, release = site.file("hold"), site.file("cleanup"), site.file("release")
    with site.client(server) as client:
        deployment = site.deploy(client, queue)
        agent = site.agent(server, queue, name="agent-1")
        quick = [site.run(client, deployment, lines=2, release=hold, child=True) for _ in range(2)]
        # This flow takes its time to clean up once stopped, as one closing its connections would.
        slow = site.run(client, deployment, lines=2, release=hold, child=True, cleanup=cleanup)
        site.wait_started(*(run.id for run in [*quick, slow]))
        wait_until(lambda: site.ledger.count("child") == 3, "the flows to start their helper processes")

        agent.kill()
        wait_until(lambda: all(state_of(client, run) == "CRASHED" for run in quick), "the quick flows to crash")
        wait_until(lambda: site.ledger.count("cleaning", slow.id) == 1, "the slow flow to begin its clean-up")
        # Its flow is still at work: the run must not look retryable yet.
        assert state_of(client, slow) == "RUNNING", client.read_flow_run(slow.id).state
        Path(cleanup).touch()

        crashed = Settlement(client, site.ledger)
        crashed.expect([*quick, slow], "CRASHED", lines=2, message="its agent went away")
        crashed.check([deployment.id], context=site.logs())

        # A new agent runs new work, and the crashed runs once an operator sends them back to the queue.
        site.agent(server, queue, name="agent-2")
        fresh = [site.run(client, deployment, lines=2, release=release) for _ in range(2)]
        for run in [*quick, slow]:
            back = StateCreate(type="SCHEDULED", name="Scheduled", message="Retried by an operator")
            assert client.set_flow_run_state(run.id, back, force=True).status == "ACCEPT"
        Path(release).touch()
        Path(hold).touch()  # what the crashed runs' flows waited for: their retries end
        settlement = Settlement(client, site.ledger)
        settlement.expect(fresh, "COMPLETED", lines=4)
        settlement.expect([*quick, slow], "COMPLETED", lines=4, executions=2)
        settlement.check([deployment.id], context=site.logs())
