"""``DatabaseQueueStore``: the core's ``sluice.queues.QueueStore``, the database work of queue backends.

The server makes one per database and hands it to the queue backend (``queue_backend``). Reads go
through a read-only session (``snapshot``) or a claim's write transaction (``claim_transaction``:
SQLite ``BEGIN IMMEDIATE``, PostgreSQL row locks); the change feed is the database's
(``change_feed.feed_of(database)``). The SQL lives in ``queue_queries``, imported on first use: every app
(the embedded one of each CLI command too) makes its store, most never claim.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timedelta
from types import ModuleType
from typing import Any
from uuid import UUID

from sluice.queues import (
    BuildAnswer,
    ClaimConflict,
    ClaimRequest,
    ClaimResult,
    QueuedRun,
    WorkChanges,
    WorkQueue,
)
from sluice.server.database.change_feed import feed_of
from sluice.server.database.types import utcnow

logger = logging.getLogger("sluice.server")

#: PostgreSQL errors that a claim may simply try again: deadlock detected, serialization failure.
RETRY_SQLSTATES = frozenset({"40P01", "40001"})
#: How often ``last_polled`` is written per queue, at most.
POLLED_EVERY = timedelta(seconds=5)
_ATTEMPTS = 5


def _queries() -> ModuleType:
    from sluice.server import queue_queries

    return queue_queries


class _Reads:
    """``sluice.queues.QueueReads`` on one session."""

    def __init__(self, session: Any, lock: bool) -> None:
        self.session = session
        self.lock = lock
        #: Plain rows of the runs read, by id: what a claim writes back and builds answers from.
        self.rows: dict[UUID, Any] = {}

    def queues(self, request: ClaimRequest | None = None) -> list[WorkQueue]:
        """See ``QueueReads.queues``."""
        return _queries().select_queues(self.session, request, self.lock)

    def due_runs(
        self, queues: Sequence[WorkQueue], horizon: datetime, limit: int, skip_full_deployments: bool = True
    ) -> list[QueuedRun]:
        """See ``QueueReads.due_runs``."""
        return _queries().due_runs(self.session, queues, horizon, limit, skip_full_deployments, self.lock, self.rows)

    def has_due_runs(self, queues: Sequence[WorkQueue], horizon: datetime) -> bool:
        """See ``QueueReads.has_due_runs``."""
        return _queries().has_due_runs(self.session, queues, horizon)

    def claimable_runs(
        self, queues: Sequence[WorkQueue], after: UUID | None = None, limit: int = 1000
    ) -> list[QueuedRun]:
        """See ``QueueReads.claimable_runs``."""
        return _queries().claimable_runs(self.session, queues, after, limit)

    def active_runs(self, queues: Sequence[WorkQueue], after: UUID | None = None, limit: int = 1000) -> list[QueuedRun]:
        """See ``QueueReads.active_runs``."""
        return _queries().active_runs(self.session, queues, after, limit)

    def read_runs(self, run_ids: Iterable[UUID], queues: Sequence[WorkQueue]) -> dict[UUID, QueuedRun]:
        """See ``QueueReads.read_runs``."""
        return _queries().read_runs(self.session, run_ids, queues, lock=False, rows=None)

    def active_counts(self, queues: Sequence[WorkQueue]) -> dict[str, int]:
        """See ``QueueReads.active_counts``."""
        return _queries().active_counts(self.session, queues)

    def deployment_limits(self, deployment_ids: Iterable[UUID] | None = None) -> dict[UUID, int]:
        """See ``QueueReads.deployment_limits``."""
        return _queries().deployment_limits(self.session, deployment_ids, self.lock)

    def deployment_active_counts(self, deployment_ids: Iterable[UUID]) -> dict[UUID, int]:
        """See ``QueueReads.deployment_active_counts``."""
        return _queries().deployment_active_counts(self.session, deployment_ids)

    def has_deployment_limits(self) -> bool:
        """See ``QueueReads.has_deployment_limits``."""
        return _queries().has_deployment_limits(self.session)

    def next_due_time(self, queues: Sequence[WorkQueue], after: datetime) -> datetime | None:
        """See ``QueueReads.next_due_time``."""
        return _queries().next_due_time(self.session, queues, after)


class _ClaimTransaction(_Reads):
    """``sluice.queues.ClaimTransaction``: the reads of ``_Reads`` plus the claim's writes."""

    def __init__(self, store: DatabaseQueueStore, session: Any, lock: bool) -> None:
        super().__init__(session, lock)
        self.store = store

    def move_to_pending(
        self, runs: Sequence[QueuedRun], agent_id: UUID, build_answer: BuildAnswer | None = None
    ) -> ClaimResult:
        """See ``ClaimTransaction.move_to_pending``."""
        queries = _queries()
        missing = [run.id for run in runs if run.id not in self.rows]
        if missing:
            raise ValueError(f"move_to_pending takes runs read by due_runs in the same transaction, not {missing[0]}")
        # The PENDING time is taken once every lock is held: a run that freed a slot this claim counted
        # as free always ended earlier, so the state history never shows a limit exceeded.
        now = utcnow()
        result = ClaimResult()
        rows = []
        for run in runs:
            if run.too_late(now):
                result.refused[run.id] = run  # the late-runs service cancels it: never started
            else:
                rows.append(self.rows[run.id])
        claimed, result.answers, failures = queries.build_answers(rows, agent_id, now, build_answer)
        if failures:
            queries.mark_unreadable(self.session, failures, now)
            for row, _ in failures:
                result.refused[row.id] = queries.queued_run(row, (), None, ())
        queries.mark_pending(self.session, claimed, agent_id, now)
        result.claimed = [row.id for row in claimed]
        return result

    def record_polled(self, queues: Sequence[WorkQueue]) -> None:
        """See ``ClaimTransaction.record_polled``."""
        now = utcnow()
        stale = [queue for queue in queues if _polled_before(queue, now - POLLED_EVERY)]
        if stale:
            _queries().record_polled(self.session, [queue.id for queue in stale], now)

    def move_if_scheduled(
        self, run_ids: Sequence[UUID], agent_id: UUID, build_answer: BuildAnswer | None
    ) -> ClaimResult:
        """Lock the runs (in id order), then move those still claimable (see
        ``QueueStore.move_to_pending_if_scheduled``)."""
        found = _queries().read_runs(self.session, run_ids, (), lock=self.lock, rows=self.rows)
        movable = [found[run_id] for run_id in run_ids if run_id in found and found[run_id].is_claimable]
        result = self.move_to_pending(movable, agent_id, build_answer)
        for run_id in run_ids:
            if run_id not in found:
                result.refused[run_id] = None
            elif not found[run_id].is_claimable:
                result.refused[run_id] = found[run_id]
        return result


class DatabaseQueueStore:
    """The ``QueueStore`` of one ``Database``."""

    def __init__(self, database: Any) -> None:
        self.database = database
        self.change_feed = feed_of(database)

    @contextmanager
    def snapshot(self) -> Iterator[_Reads]:
        """See ``QueueStore.snapshot``."""
        with self.database.read_session() as session:
            yield _Reads(session, lock=False)

    @contextmanager
    def claim_transaction(self) -> Iterator[_ClaimTransaction]:
        """See ``QueueStore.claim_transaction``."""
        from sqlalchemy.exc import OperationalError

        session = self.database.session()
        try:
            yield _ClaimTransaction(self, session, lock=not self.database.is_sqlite)
            session.commit()
        except OperationalError as exc:
            session.rollback()
            code = getattr(getattr(exc, "orig", None), "sqlstate", None)
            if code in RETRY_SQLSTATES:
                raise ClaimConflict(f"the claim lost a race in the database ({code}); try again") from exc
            raise
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def move_to_pending_if_scheduled(
        self, run_ids: Sequence[UUID], agent_id: UUID, build_answer: BuildAnswer | None = None
    ) -> ClaimResult:
        """See ``QueueStore.move_to_pending_if_scheduled``."""
        if not run_ids:
            return ClaimResult()
        return retrying(lambda: self._move_if_scheduled(run_ids, agent_id, build_answer))

    def _move_if_scheduled(
        self, run_ids: Sequence[UUID], agent_id: UUID, build_answer: BuildAnswer | None
    ) -> ClaimResult:
        with self.claim_transaction() as transaction:
            return transaction.move_if_scheduled(run_ids, agent_id, build_answer)

    def record_polled(self, queue_names: Sequence[str]) -> None:
        """See ``QueueStore.record_polled``: a read first, so that a poll of queues recorded within
        the last few seconds takes no write lock."""
        names = sorted(set(queue_names))
        if not names:
            return
        cutoff = utcnow() - POLLED_EVERY
        with self.database.read_session() as session:
            stale = [queue.name for queue in _queries().queues_named(session, names) if _polled_before(queue, cutoff)]
        if stale:
            with self.database.session() as session:
                _queries().record_polled_by_name(session, stale, utcnow(), POLLED_EVERY)
                session.commit()

    def subscribe(self, callback: Callable[[WorkChanges], None], other_processes: bool = False) -> Callable[[], None]:
        """See ``QueueStore.subscribe``."""
        return self.change_feed.subscribe(callback, other_processes)

    def hearing_other_processes(self) -> AbstractContextManager[None]:
        """See ``QueueStore.hearing_other_processes``."""
        return self.change_feed.hearing_other_processes()


def _polled_before(queue: WorkQueue, cutoff: datetime) -> bool:
    return queue.last_polled is None or queue.last_polled < cutoff


def retrying(attempt: Callable[[], Any], attempts: int = _ATTEMPTS) -> Any:
    """``attempt()``, tried again (up to ``attempts`` times, briefly apart) while it raises
    ``ClaimConflict``."""
    for number in range(1, attempts + 1):
        try:
            return attempt()
        except ClaimConflict as exc:
            if number == attempts:
                raise
            logger.info("claim retried after %s (attempt %d)", exc, number)
            time.sleep(0.01 * number)
    raise AssertionError("unreachable")
