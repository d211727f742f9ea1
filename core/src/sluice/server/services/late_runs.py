"""The late-runs service: names overdue runs ``Late`` and cancels runs later than ``max_lateness``.

Every ``late_runs_loop_seconds``:

1. a SCHEDULED run of a deployment with ``max_lateness`` whose start is more than that many seconds
   past is set CANCELLED, with the reason in its state message (it is never started);
2. a SCHEDULED run named ``Scheduled`` whose start is more than ``late_after_seconds`` past is renamed
   ``Late`` (still SCHEDULED, so an agent can still claim it), with a state-history row.

A run's start is its ``next_scheduled_start_time``: the scheduled time, except for a backfilled run
of a past time, which may start from when it was created. Runs waiting for an in-place retry
(``AwaitingRetry``) belong to the engine holding them and are left alone. Each batch is one
transaction; on PostgreSQL rows another transaction holds (a claim) are skipped until the next loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import insert, select

from sluice.schemas.states import StateCreate, StateType
from sluice.server.database.engine import Database
from sluice.server.database.tables import DeploymentTable, FlowRunStateTable, FlowRunTable
from sluice.server.database.types import utcnow
from sluice.server.models.scheduled_runs import LATE, SCHEDULED
from sluice.server.orchestration import RETRY_NAME, apply_state
from sluice.server.services.base import DatabaseService
from sluice.settings import Settings

logger = logging.getLogger("sluice.server.late_runs")

#: Runs changed per transaction.
BATCH = 500


@dataclass
class LateRunsReport:
    """What one loop did."""

    marked_late: int = 0
    cancelled: int = 0


class LateRuns(DatabaseService):
    """Marks overdue runs Late and cancels the ones past their deployment's ``max_lateness``.

    :param clock: returns "now" (default: the wall clock); tests pass a controllable one.
    """

    name = "late_runs"

    def __init__(self, database: Database, settings: Settings, clock: Callable[[], datetime] = utcnow) -> None:
        super().__init__(database, settings)
        self.loop_seconds = settings.late_runs_loop_seconds  # type: ignore[misc]
        self.late_after = timedelta(seconds=settings.late_after_seconds)
        self.clock = clock

    async def run_once(self) -> None:
        """One loop, in a worker thread."""
        report = await asyncio.to_thread(self.handle_late_runs)
        if report.cancelled or report.marked_late:
            logger.info("late runs: %d marked Late, %d cancelled", report.marked_late, report.cancelled)

    def handle_late_runs(self, now: datetime | None = None) -> LateRunsReport:
        """Cancel the runs past ``max_lateness``, then mark the overdue ones Late, at ``now``."""
        now = now or self.clock()
        report = LateRunsReport()
        report.cancelled = self.cancel_too_late_runs(now)
        report.marked_late = self.mark_late_runs(now)
        return report

    def mark_late_runs(self, now: datetime) -> int:
        """Rename ``Late`` every SCHEDULED run named ``Scheduled`` due more than ``late_after`` ago."""
        cutoff = now - self.late_after
        query = (
            select(FlowRunTable)
            .where(
                FlowRunTable.state_type == SCHEDULED,
                FlowRunTable.state_name == "Scheduled",
                # expected <= next scheduled start: the first bound lets the index narrow the scan.
                FlowRunTable.expected_start_time < cutoff,
                FlowRunTable.next_scheduled_start_time < cutoff,
            )
            .order_by(FlowRunTable.expected_start_time)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        )
        late = StateCreate(type=StateType.SCHEDULED, name=LATE)
        total = 0
        while True:
            with self.database.session() as session:
                runs = list(session.scalars(query))
                if runs:
                    history = [apply_state(run, late, now) for run in runs]
                    session.flush()
                    session.execute(insert(FlowRunStateTable.__table__), history)
                    session.commit()
            total += len(runs)
            if len(runs) < BATCH:
                return total

    def cancel_too_late_runs(self, now: datetime) -> int:
        """Cancel the SCHEDULED runs of deployments with ``max_lateness`` that are later than it."""
        with self.database.read_session() as session:
            query = select(DeploymentTable.id, DeploymentTable.max_lateness).where(
                DeploymentTable.max_lateness.is_not(None)
            )
            by_lateness: dict[int, list[UUID]] = defaultdict(list)
            for deployment_id, max_lateness in session.execute(query):
                by_lateness[int(max_lateness)].append(deployment_id)
        total = 0
        for max_lateness, deployment_ids in sorted(by_lateness.items()):
            for offset in range(0, len(deployment_ids), 500):
                total += self._cancel(deployment_ids[offset : offset + 500], max_lateness, now)
        return total

    def _cancel(self, deployment_ids: list[UUID], max_lateness: int, now: datetime) -> int:
        cutoff = now - timedelta(seconds=max_lateness)
        query = (
            select(FlowRunTable)
            .where(
                FlowRunTable.deployment_id.in_(deployment_ids),
                FlowRunTable.state_type == SCHEDULED,
                FlowRunTable.state_name != RETRY_NAME,
                FlowRunTable.expected_start_time < cutoff,
                FlowRunTable.next_scheduled_start_time < cutoff,
            )
            .order_by(FlowRunTable.expected_start_time)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        )
        total = 0
        while True:
            with self.database.session() as session:
                runs = list(session.scalars(query))
                history = [apply_state(run, _cancelled(run, max_lateness, now), now) for run in runs]
                if history:
                    session.flush()
                    session.execute(insert(FlowRunStateTable.__table__), history)
                    session.commit()
            total += len(runs)
            if len(runs) < BATCH:
                return total


def _cancelled(run: FlowRunTable, max_lateness: int, now: datetime) -> StateCreate:
    start_at = run.next_scheduled_start_time or run.expected_start_time or now
    late_by = int((now - start_at).total_seconds())
    message = (
        f"Not started: {late_by}s after its scheduled start, later than the deployment's "
        f"max_lateness of {max_lateness}s."
    )
    return StateCreate(type=StateType.CANCELLED, message=message)
