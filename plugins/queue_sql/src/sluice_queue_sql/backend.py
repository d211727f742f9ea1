"""``SqlQueueBackend``: the whole claim in one database transaction, long polls woken by the change feed.

The claim, all inside ``store.claim_transaction()`` (SQLite: ``BEGIN IMMEDIATE``, so claims run one
at a time; PostgreSQL: row locks, so claims on different queues run side by side):

1. Read the requested queues (by name, by prefix, legacy tag queues); drop paused ones. On
   PostgreSQL the unpaused queues that have a concurrency limit are locked (in id order), so two
   claims never both count a free slot.
2. Count the active runs (PENDING, RUNNING, CANCELLING) of limited queues; drop full ones.
3. Read candidate runs — claimable, due by now + prefetch, of a deployment that is not at its
   limit — oldest first; PostgreSQL locks them with ``SKIP LOCKED``, so concurrent claims take
   different runs without waiting.
4. Lock (PostgreSQL) and count the active runs of the candidates' limited deployments.
5. Admit candidates while the request's limit, their queue's and their deployment's slots allow;
   the store sets them PENDING (not those past their deadline) and builds each answer inside the
   transaction.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from sluice.queues import (
    BuildAnswer,
    ClaimConflict,
    ClaimRequest,
    QueueBackend,
    QueuedRun,
    QueueReads,
    WorkQueue,
)

logger = logging.getLogger("sluice.queue_sql")

#: How far past the request's limit candidates are read, so runs over a limit do not hide others.
CANDIDATE_SLACK = 20
#: How often a long poll records that its queues were polled, at most.
POLLED_EVERY = timedelta(seconds=5)
_ATTEMPTS = 5


def _now() -> datetime:
    return datetime.now(UTC)


class SqlQueueBackend(QueueBackend):
    """The default queue backend: SQLite (one machine) and PostgreSQL (several replicas).

    Every commit on the database that writes a SCHEDULED or final state, or changes a queue or a
    deployment, wakes the long polls of this process and, on PostgreSQL, of every replica.
    """

    slug: ClassVar[str] = "sql"

    # -- claims --------------------------------------------------------------------------------

    def claim_runs(self, request: ClaimRequest, build_answer: BuildAnswer | None = None) -> list[Any]:
        """Claim up to ``request.limit`` due runs for the agent in one transaction (see the module);
        with ``build_answer``, the answers built inside it."""
        if request.limit <= 0:
            return []
        horizon = _now() + timedelta(seconds=max(0.0, request.prefetch_seconds))
        if not self._worth_claiming(request, horizon):
            return []
        return _retrying(lambda: self._claim(request, horizon, build_answer))

    def _claim(self, request: ClaimRequest, horizon: datetime, build_answer: BuildAnswer | None) -> list[Any]:
        with self.store.claim_transaction() as transaction:
            queues = transaction.queues(request)
            admitted = admissible(transaction, request, queues, horizon)
            result = transaction.move_to_pending(admitted, request.agent_id, build_answer) if admitted else None
            transaction.record_polled(queues)
        return result.answers if result is not None else []

    def _worth_claiming(self, request: ClaimRequest, horizon: datetime) -> bool:
        """A read-only look first, so an idle long poll never takes a write lock; it still records
        ``last_polled`` on the queues every few seconds."""
        with self.store.snapshot() as reads:
            queues = reads.queues(request)
            if reads.has_due_runs(queues, horizon):
                return True
        stale = [
            queue.name for queue in queues if queue.last_polled is None or queue.last_polled < _now() - POLLED_EVERY
        ]
        if stale:
            self.store.record_polled(stale)
        return False

    # -- waiting -------------------------------------------------------------------------------

    async def wait_for_work(self, request: ClaimRequest, timeout: float, since: int | None = None) -> None:
        """Wait for a change that may make work, for the next known run of the queues to come due, or
        ``timeout``.

        Returns at once when a claim would now take a run: one came due between the caller's claim and
        this wait, and no change will ever announce a run's time coming.
        """
        if timeout <= 0:
            return
        claimable, due = await asyncio.to_thread(self._look_ahead, request)
        if claimable:
            return
        if due is not None:
            wake_in = (due - timedelta(seconds=request.prefetch_seconds) - _now()).total_seconds()
            timeout = min(timeout, max(0.0, wake_in) + 0.005)
        await self.wait_for_signal(timeout, since)

    def _look_ahead(self, request: ClaimRequest) -> tuple[bool, datetime | None]:
        """Whether a claim would take a run now, else when the next run not yet due comes due.

        Runs already due that a claim leaves (a full queue or deployment, past their deadline) are
        neither: they wait for a change that frees a slot, or the long poll would spin.
        """
        horizon = _now() + timedelta(seconds=max(0.0, request.prefetch_seconds))
        with self.store.snapshot() as reads:
            queues = reads.queues(request)
            # The claim's full steps only when a due run exists at all: an idle wait costs three reads.
            if request.limit > 0 and reads.has_due_runs(queues, horizon):
                now = _now()
                if any(not run.too_late(now) for run in admissible(reads, request, queues, horizon)):
                    return True, None
            return False, reads.next_due_time(queues, after=horizon)


def admissible(
    reads: QueueReads, request: ClaimRequest, queues: Sequence[WorkQueue], horizon: datetime
) -> list[QueuedRun]:
    """Steps 2–5 short of writing: the runs a claim takes, in order (see the module)."""
    open_queues = [queue for queue in queues if not queue.is_paused]
    limited = [queue for queue in open_queues if queue.concurrency_limit is not None]
    counts = reads.active_counts(limited) if limited else {}
    free: dict[str, int] = {queue.name: (queue.concurrency_limit or 0) - counts.get(queue.name, 0) for queue in limited}
    open_queues = [queue for queue in open_queues if free.get(queue.name, 1) > 0]
    # Extra candidates only where a limit may turn some away, so that they do not hide other runs.
    slack = CANDIDATE_SLACK if free or reads.has_deployment_limits() else 0
    runs = reads.due_runs(open_queues, horizon, request.limit + slack)
    deployment_limits = reads.deployment_limits({run.deployment_id for run in runs if run.deployment_id})
    active = reads.deployment_active_counts(deployment_limits) if deployment_limits else {}
    deployment_free = {key: limit - active.get(key, 0) for key, limit in deployment_limits.items()}
    admitted = []
    for run in runs:
        if len(admitted) >= request.limit:
            break
        queue = run.queues[0] if run.queues else None
        if queue is None or free.get(queue, 1) <= 0 or deployment_free.get(run.deployment_id, 1) <= 0:
            continue
        if queue in free:
            free[queue] -= 1
        if run.deployment_id in deployment_free:
            deployment_free[run.deployment_id] -= 1
        admitted.append(run)
    return admitted


def _retrying(attempt: Callable[[], Any]) -> Any:
    """``attempt()``, again while it loses a race in the database (``ClaimConflict``)."""
    for number in range(1, _ATTEMPTS + 1):
        try:
            return attempt()
        except ClaimConflict as exc:
            if number == _ATTEMPTS:
                raise
            logger.info("claim retried after %s (attempt %d)", exc, number)
            time.sleep(0.01 * number)
    return []
