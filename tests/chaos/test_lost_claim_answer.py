"""Chaos: the answer to a claim is lost after the server committed it.

The agent reaches its server through a proxy that drops the first claim answer handing out runs and
breaks the connection — what a load balancer reset, a network cut or a replica dying between its
commit and its reply does. The runs are PENDING for an agent that never heard of them, and that agent
is alive and heartbeating, so crash detection leaves them alone: they must still run, once.
"""

from __future__ import annotations

import json

import pytest

from tests.chaos.proxy import AnswerLosingProxy, Exchange
from tests.chaos.settle import Settlement
from tests.chaos.site import ChaosSite

pytestmark = [pytest.mark.chaos, pytest.mark.slow]


def first_claim_with_runs(exchange: Exchange) -> bool:
    """True for an answer to a claim that hands out runs (only the first such answer is lost)."""
    return "/work_queues/claim" in exchange.request_line and bool(json.loads(exchange.answer_body or b"[]"))


def test_runs_whose_claim_answer_was_lost_still_run_once_on_the_agent_that_claimed_them(
    site: ChaosSite, queue: str
) -> None:
    server = site.server()
    lost_once: list[Exchange] = []

    def lose(exchange: Exchange) -> bool:
        if not lost_once and first_claim_with_runs(exchange):
            lost_once.append(exchange)
            return True
        return False

    proxy = AnswerLosingProxy(server.port, lose)
    try:
        with site.client(server) as client:
            deployment = site.deploy(client, queue)
            runs = [site.run(client, deployment, lines=1) for _ in range(3)]
            site.agent(server, queue, SLUICE_API_URL=proxy.api_url)

            settlement = Settlement(client, site.ledger)
            settlement.expect(runs, "COMPLETED", lines=1)
            settlement.check([deployment.id], timeout=45, context=site.logs())
        assert lost_once, "no claim answer was lost: the test proved nothing"
    finally:
        proxy.close()
