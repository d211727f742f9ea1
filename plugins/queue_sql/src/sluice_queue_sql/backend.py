"""``SqlQueueBackend``: claims in the server's database, long polls woken by notifications."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, ClassVar

from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from sluice.queues import ClaimRequest
from sluice.server.database.engine import Database
from sluice.server.database.types import utcnow
from sluice.settings import Settings
from sluice_queue_sql.notify import PostgresListener, SqliteWatcher, WorkNotifier, forget_engine, watch_engine

logger = logging.getLogger("sluice.queue_sql")

#: PostgreSQL errors worth one more try: deadlock detected, serialization failure.
_RETRY_SQLSTATES = frozenset({"40P01", "40001"})
_ATTEMPTS = 5


def _claims() -> Any:
    """The claim queries, imported on the first claim rather than with the backend.

    Every app (the embedded one of each CLI command too) makes its backend when it is built, and
    ``claim`` pulls in the API's table and orchestration modules: ~0.5 s a command never claiming.
    """
    from sluice_queue_sql import claim

    return claim


class SqlQueueBackend:
    """The default queue backend: SQLite (one machine) and PostgreSQL (several replicas).

    Every transaction on this database that writes a SCHEDULED or final state, or changes a queue or
    a deployment, wakes the long polls of this process (and, on PostgreSQL, of every replica through
    ``NOTIFY sluice_work``).
    """

    slug: ClassVar[str] = "sql"

    def __init__(self, database: Database, settings: Settings | None = None) -> None:
        self.database = database
        self.settings = settings
        self.notifier = WorkNotifier()
        self.is_sqlite = database.is_sqlite
        watch_engine(database.engine.pool, self.notifier)
        self._listener: PostgresListener | SqliteWatcher | None = None
        if database.dialect_name == "postgresql":
            self._listener = PostgresListener(self.notifier, database.url)
        elif self.is_sqlite:
            path = make_url(database.url).database
            if path and path != ":memory:":
                self._listener = SqliteWatcher(self.notifier, path)
        if self._listener is not None:
            self.notifier.on_first_waiter.append(self._listener.ensure_started)

    # -- claims --------------------------------------------------------------------------------

    def claim_runs(self, request: ClaimRequest, build_answer: Callable[[Any], Any] | None = None) -> list[Any]:
        """Claim up to ``request.limit`` due runs for the agent in one transaction (see ``claim``);
        with ``build_answer``, the answers built inside it."""
        if request.limit <= 0:
            return []
        now = utcnow()
        horizon = now + timedelta(seconds=max(0.0, request.prefetch_seconds))
        if not self._worth_claiming(request, horizon, now):
            return []
        for attempt in range(1, _ATTEMPTS + 1):
            session = self.database.session()
            try:
                runs = _claims().claim(session, request, lock=not self.is_sqlite, build_answer=build_answer)
                session.commit()
                return runs
            except OperationalError as exc:
                session.rollback()
                code = getattr(getattr(exc, "orig", None), "sqlstate", None)
                if code not in _RETRY_SQLSTATES or attempt == _ATTEMPTS:
                    raise
                logger.info("claim retried after %s (attempt %d)", code, attempt)
                time.sleep(0.01 * attempt)
            finally:
                session.close()
        return []

    def _worth_claiming(self, request: ClaimRequest, horizon: datetime, now: datetime) -> bool:
        """A read-only look first, so an idle long poll never takes a write lock; it still records
        ``last_polled`` on the queues every few seconds."""
        claims = _claims()
        with self.database.read_session() as session:
            queues = claims.requested_queues(session, request, lock=False)
            if claims.claimable_exists(session, queues, horizon):
                return True
            stale = any(q.last_polled is None or q.last_polled < now - claims._LAST_POLLED_EVERY for q in queues)
        if stale:
            with self.database.session() as session:
                claims.touch_queues(session, claims.requested_queues(session, request, lock=False), now)
                session.commit()
        return False

    # -- waiting -------------------------------------------------------------------------------

    def work_version(self) -> int:
        """Changes whenever there may be new work on this database."""
        return self.notifier.version

    def notify(self) -> None:
        """Wake this process's long polls (tests and services that write outside a session)."""
        self.notifier.notify()

    async def wait_for_work(self, request: ClaimRequest, timeout: float, since: int | None = None) -> None:
        """Wait for a notification, for the next known run of the queues to come due, or ``timeout``.

        Returns at once when a claim would now take a run: one came due between the caller's claim and
        this wait, and no notification will ever announce a run's time coming.
        """
        if timeout <= 0:
            return
        claimable, due = await asyncio.to_thread(self._look_ahead, request)
        if claimable:
            return
        if due is not None:
            wake_in = (due - timedelta(seconds=request.prefetch_seconds) - utcnow()).total_seconds()
            timeout = min(timeout, max(0.0, wake_in) + 0.005)
        await self.notifier.wait(timeout, since)

    def _look_ahead(self, request: ClaimRequest) -> tuple[bool, datetime | None]:
        """Whether a claim would take a run now, else when the next run not yet due comes due.

        Runs already due that a claim leaves (a full queue or deployment, past ``max_lateness``) are
        neither: they wait for a notification that a slot is free, or the long poll would spin.
        """
        claims = _claims()
        horizon = utcnow() + timedelta(seconds=max(0.0, request.prefetch_seconds))
        with self.database.read_session() as session:
            queues = claims.requested_queues(session, request, lock=False)
            # The claim's full steps only when a due run exists at all: an idle wait costs three reads.
            if claims.claimable_exists(session, queues, horizon) and claims.claimable_now(session, request, horizon):
                return True, None
            return False, claims.next_due_time(session, queues, after=horizon)

    def close(self) -> None:
        """Stop the listener thread and the session notifications."""
        if self._listener is not None:
            self._listener.close()
        forget_engine(self.database.engine.pool)
