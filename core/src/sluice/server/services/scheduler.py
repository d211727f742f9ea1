"""The scheduler service: keeps each active schedule's next runs created ahead.

Every ``scheduler_loop_seconds`` it pages through the deployments whose schedule is on and, for each
active schedule with fewer than ``scheduler_min_runs`` future runs, creates its next runs: up to
``scheduler_max_runs`` within ``scheduler_max_scheduled_time`` (at least ``min_runs`` even past that
horizon). A deployment with ``catchup`` also gets the runs missed since its last auto-scheduled run
(while the scheduler was down) — the latest ``max_runs`` of them, marked Late; without it, times
that passed are skipped. ``sluice deployment backfill`` creates any older ones.

Safe on every replica at once: runs are keyed (``scheduled_runs.scheduled_run_key``) and inserted
skipping taken keys (``bulk_runs``). Each page is read, planned outside any write transaction, then
written in one short transaction that first re-reads (on PostgreSQL locks, skipping rows another
transaction holds) the page's deployments and drops any changed since the read — so a run planned
from a schedule that was just edited is never created after the edit deleted the old ones.

A scheduler remembers when each schedule it found filled next runs low, and counts that schedule's
runs again only then, when its deployment changes, or after ``RECHECK_AFTER``; a loop with nothing
to create therefore reads the deployments and little else.

The dates of each schedule are computed under the schedule budget (``SLUICE_SCHEDULE_MAX_SCANNED``,
``SLUICE_SCHEDULE_MAX_SECONDS``), all of one schedule's dates in a loop sharing one budget. A
schedule past it (one stored before the server refused such schedules) is skipped with a warning
naming the deployment and why, and left alone until its deployment changes or ``RECHECK_AFTER``
passes: it never holds up the runs of the other deployments.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sluice.schedule_budget import (
    Computation,
    ScheduleBudget,
    ScheduleBudgetExceeded,
    ScheduleComputationStopped,
    schedule_budget,
)
from sluice.schedules import DatesOutOfRange, Schedule
from sluice.server.database.engine import Database
from sluice.server.database.tables import DeploymentTable, FlowRunTable
from sluice.server.database.types import utcnow
from sluice.server.models.deployment_schedules import ScheduleCache, ScheduleEntry, active_entries
from sluice.server.models.scheduled_runs import (
    DeploymentRunFields,
    insert_scheduled_runs,
    key_schedule_id,
    new_scheduled_run,
)
from sluice.server.services.base import DatabaseService
from sluice.settings import Settings

logger = logging.getLogger("sluice.server.scheduler")

T = TypeVar("T")

_MICROSECOND = timedelta(microseconds=1)
#: How long a schedule found with enough runs ahead is trusted without counting them again.
RECHECK_AFTER = timedelta(minutes=10)


@dataclass
class SchedulerReport:
    """What one loop did."""

    deployments: int = 0
    planned: int = 0
    created: int = 0
    skipped_changed: int = 0
    work_queues: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class _Deployment:
    """The columns of a deployment the scheduler reads."""

    fields: DeploymentRunFields
    updated: datetime
    catchup: bool
    entries: list[ScheduleEntry]


@dataclass(frozen=True)
class _Failing:
    """A schedule whose dates could not be computed: skipped until its deployment changes or
    ``retry_at``."""

    updated: datetime  # the deployment's ``updated`` when it failed
    retry_at: datetime


@dataclass(frozen=True)
class _Filled:
    """A schedule found with enough runs ahead: until ``refill_at`` it needs no look."""

    updated: datetime  # the deployment's ``updated`` when it was found so
    checked: datetime
    refill_at: datetime  # from then on fewer than ``refill_below`` of its runs are ahead


class Scheduler(DatabaseService):
    """Creates the next runs of every active schedule; see the module docstring.

    :param clock: returns "now" (default: the wall clock); tests pass a controllable one.
    """

    name = "scheduler"

    def __init__(self, database: Database, settings: Settings, clock: Callable[[], datetime] = utcnow) -> None:
        super().__init__(database, settings)
        self.loop_seconds = settings.scheduler_loop_seconds  # type: ignore[misc]
        self.clock = clock
        self.min_runs = settings.scheduler_min_runs
        self.max_runs = settings.scheduler_max_runs
        self.max_scheduled_time = settings.scheduler_max_scheduled_time
        self.batch_size = settings.scheduler_deployment_batch_size
        # A schedule is topped up when it has fewer future runs than this (at least one).
        self.refill_below = max(1, self.min_runs)
        self.budget = ScheduleBudget.from_settings(settings)
        self._schedules = ScheduleCache()
        # Schedules known to have enough runs ahead, so that a steady loop over many deployments
        # does not count their runs again on every round.
        self._filled: dict[tuple[UUID, str], _Filled] = {}
        # Schedules whose dates could not be computed within the budget, so that one is not tried
        # again on every loop.
        self._failing: dict[tuple[UUID, str], _Failing] = {}

    async def run_once(self) -> None:
        """One loop, in a worker thread (the work is blocking database I/O)."""
        report = await asyncio.to_thread(self.schedule_runs)
        if report.created:
            logger.info("scheduler created %d runs for %d deployments", report.created, report.deployments)

    def schedule_runs(self, now: datetime | None = None) -> SchedulerReport:
        """Create the runs every active schedule needs at ``now`` (default: the clock); returns a report."""
        now = now or self.clock()
        report = SchedulerReport()
        after: UUID | None = None
        known, self._filled = self._filled, {}
        self._failing = {key: failing for key, failing in self._failing.items() if now < failing.retry_at}
        while True:
            page = self._read_page(after)
            if not page:
                break
            after = page[-1].fields.id
            self._fill_page(page, now, report, known)
            if len(page) < self.batch_size:
                break
        return report

    # -- reading ---------------------------------------------------------------------------------

    def _read_page(self, after: UUID | None) -> list[_Deployment]:
        """The next page of deployments whose schedule is on, in id order (keyset pagination)."""
        columns = (
            DeploymentTable.id,
            DeploymentTable.flow_id,
            DeploymentTable.parameters,
            DeploymentTable.tags,
            DeploymentTable.work_queue_name,
            DeploymentTable.updated,
            DeploymentTable.catchup,
            DeploymentTable.schedules,
            DeploymentTable.schedule,
        )
        query = select(*columns).where(DeploymentTable.is_schedule_active.is_(True))
        if after is not None:
            query = query.where(DeploymentTable.id > after)
        query = query.order_by(DeploymentTable.id).limit(self.batch_size)
        with self.database.read_session() as session:
            rows = session.execute(query).all()
        page = []
        for row in rows:
            fields = DeploymentRunFields(row.id, row.flow_id, row.parameters, row.tags, row.work_queue_name)
            page.append(_Deployment(fields, row.updated, row.catchup, active_entries(row.schedules, row.schedule)))
        return page

    def _fill_page(
        self, page: list[_Deployment], now: datetime, report: SchedulerReport, known: dict[tuple[UUID, str], _Filled]
    ) -> None:
        """Plan the runs of one page and write them; ``known`` holds what earlier loops found."""
        unknown = []
        for deployment in page:
            filled = [known.get((deployment.fields.id, entry.id)) for entry in deployment.entries]
            if all(self._still_filled(found, deployment, now) for found in filled):
                self._filled.update(
                    ((deployment.fields.id, entry.id), found)
                    for entry, found in zip(deployment.entries, filled, strict=True)
                    if found is not None
                )
            else:
                unknown.append(deployment)
        if not unknown:
            return
        with self.database.read_session() as session:
            future = _future_run_counts(session, [d.fields.id for d in unknown], now)
            needy, enough = [], []
            for deployment in unknown:
                for entry in deployment.entries:
                    if self._still_failing(deployment, entry, now):
                        continue
                    count = future.get((deployment.fields.id, entry.id), 0)
                    if count < self.refill_below:
                        needy.append((deployment, entry))
                    else:
                        enough.append((deployment, entry, count))
            catchup_ids = sorted({d.fields.id for d, _ in needy if d.catchup}, key=str)
            last_times = _last_run_times(session, catchup_ids) if catchup_ids else {}
        for deployment, entry, count in enough:
            ahead = self._compute(deployment, entry, now, self._next_dates, entry, count, now)
            self._remember(deployment, entry, ahead or [], now)
        runs: list[dict[str, Any]] = []
        planned: list[tuple[_Deployment, ScheduleEntry, list[datetime]]] = []
        for deployment, entry in needy:
            if self._stopping.is_set():  # the server is shutting down: the runs planned so far are written
                break
            start = now
            last = last_times.get((deployment.fields.id, entry.id))
            if deployment.catchup and last is not None and last < now:
                # Missed runs count from the last one, but never from before the deployment's last
                # change: runs missed while the schedule was paused are not "caught up".
                start = max(last + _MICROSECOND, deployment.updated)
            dates = self._compute(deployment, entry, now, self._dates, entry, start, now)
            if dates is None:
                continue
            planned.append((deployment, entry, dates))
            runs.extend(new_scheduled_run(deployment.fields, entry.id, when, now) for when in dates)
        if not runs:
            return
        report.planned += len(runs)
        written = self._write(page, runs, report)
        for deployment, entry, dates in planned:
            if deployment.fields.id in written:
                self._remember(deployment, entry, [when for when in dates if when > now], now)

    def _still_filled(self, found: _Filled | None, deployment: _Deployment, now: datetime) -> bool:
        """Whether what an earlier loop found still holds: the deployment is unchanged, its runs
        are not yet too few, and the finding is recent (runs deleted by hand are noticed)."""
        return (
            found is not None
            and found.updated == deployment.updated
            and found.checked <= now < found.refill_at
            and now - found.checked < RECHECK_AFTER
        )

    def _still_failing(self, deployment: _Deployment, entry: ScheduleEntry, now: datetime) -> bool:
        """Whether the schedule failed in an earlier loop and is still to be left alone."""
        failing = self._failing.get((deployment.fields.id, entry.id))
        return failing is not None and failing.updated == deployment.updated and now < failing.retry_at

    def _compute(
        self, deployment: _Deployment, entry: ScheduleEntry, now: datetime, plan: Callable[..., T], *args: Any
    ) -> T | None:
        """``plan(*args)`` as one computation under the budget; None when it fails, which is logged
        (and, past the budget, remembered): one schedule never holds up the others' runs."""
        where = f"schedule {entry.id} of deployment {deployment.fields.id}"
        try:
            with schedule_budget(self.budget):
                return Computation().run(plan, *args)
        except ScheduleComputationStopped:
            return None  # the server is shutting down
        except (ScheduleBudgetExceeded, DatesOutOfRange) as exc:
            retry_at = now + RECHECK_AFTER
            self._failing[(deployment.fields.id, entry.id)] = _Failing(deployment.updated, retry_at)
            logger.warning(
                "%s skipped: its dates cannot be computed (%s); it is tried again when the deployment changes or at %s",
                where,
                exc,
                retry_at.isoformat(timespec="seconds"),
            )
        except Exception:
            logger.exception("%s failed; skipped", where)
        return None

    def _next_dates(self, entry: ScheduleEntry, count: int, now: datetime) -> list[datetime]:
        """The next ``count`` times of a schedule after ``now``: those its ``count`` runs ahead stand
        for (none when the schedule cannot be read: it is then counted again next loop)."""
        schedule = self._schedules.get(entry.schedule)
        if schedule is None:
            return []
        return schedule.get_dates(count, now + _MICROSECOND)

    def _remember(self, deployment: _Deployment, entry: ScheduleEntry, ahead: list[datetime], now: datetime) -> None:
        """Note when a schedule with the runs ``ahead`` (sorted) next needs topping up."""
        if len(ahead) >= self.refill_below:
            refill_at = ahead[len(ahead) - self.refill_below]
            self._filled[(deployment.fields.id, entry.id)] = _Filled(deployment.updated, now, refill_at)

    def _dates(self, entry: ScheduleEntry, start: datetime, now: datetime) -> list[datetime]:
        """The times ``entry`` should have runs for: the latest missed ones since ``start`` (catch-up), then
        ``max_runs`` within the horizon, or ``min_runs`` when the horizon holds fewer."""
        schedule = self._schedules.get(entry.schedule)
        if schedule is None:
            return []
        missed = _latest_dates(schedule, self.max_runs, start, now) if start < now else []
        upcoming = schedule.get_dates(self.max_runs, now, now + self.max_scheduled_time)
        if len(upcoming) < self.min_runs:
            upcoming = schedule.get_dates(min(self.min_runs, self.max_runs), now)
        return missed + upcoming

    # -- writing ---------------------------------------------------------------------------------

    def _write(self, page: list[_Deployment], runs: list[dict[str, Any]], report: SchedulerReport) -> set[UUID]:
        """Insert the planned runs of the deployments that did not change since they were read;
        returns the ids of those deployments."""
        read_versions = {d.fields.id: d.updated for d in page}
        wanted = sorted({run["deployment_id"] for run in runs}, key=str)
        with self.database.session() as session:
            current = _lock_deployments(session, wanted)
            unchanged = {
                deployment_id
                for deployment_id, (updated, active) in current.items()
                if active and updated == read_versions[deployment_id]
            }
            report.skipped_changed += len(wanted) - len(unchanged)
            runs = [run for run in runs if run["deployment_id"] in unchanged]
            inserted = insert_scheduled_runs(session, runs)
            session.commit()
        report.deployments += len({run["deployment_id"] for run in inserted})
        report.created += len(inserted)
        report.work_queues.update(run["work_queue_name"] for run in inserted if run["work_queue_name"])
        return unchanged


def _latest_dates(schedule: Schedule, n: int, start: datetime, end: datetime) -> list[datetime]:
    """The last ``n`` times ``schedule`` fires at or after ``start`` and before ``end``.

    Schedules only count forward, so a window ending at ``end`` is doubled until it holds more than
    ``n`` times (or reaches ``start``); only that window is then walked, keeping its last ``n``. The
    first window is short, so that a schedule firing every microsecond walks a few thousand times.
    """
    last = end - _MICROSECOND
    window = timedelta(milliseconds=1)
    while True:
        lower = max(start, end - window)
        if lower == start or len(schedule.get_dates(n + 1, lower, last)) > n:
            break
        window *= 2
    latest: deque[datetime] = deque(maxlen=n)
    while True:
        chunk = schedule.get_dates(1000, lower, last)
        latest.extend(chunk)
        if len(chunk) < 1000:
            return list(latest)
        lower = chunk[-1] + _MICROSECOND


def _future_run_counts(session: Session, deployment_ids: Sequence[UUID], now: datetime) -> dict[tuple[UUID, str], int]:
    """How many auto-scheduled runs after ``now`` (in any state) each (deployment, schedule id) has:
    one grouped query for the whole page."""
    schedule_id = key_schedule_id()
    query = (
        select(FlowRunTable.deployment_id, schedule_id, func.count())
        .where(
            FlowRunTable.deployment_id.in_(deployment_ids),
            FlowRunTable.auto_scheduled.is_(True),
            FlowRunTable.expected_start_time > now,
        )
        .group_by(FlowRunTable.deployment_id, schedule_id)
    )
    return {(deployment_id, sid): count for deployment_id, sid, count in session.execute(query)}


def _last_run_times(session: Session, deployment_ids: Sequence[UUID]) -> dict[tuple[UUID, str], datetime]:
    """The expected start of the latest auto-scheduled run of each (deployment, schedule id)."""
    schedule_id = key_schedule_id()
    query = (
        select(FlowRunTable.deployment_id, schedule_id, func.max(FlowRunTable.expected_start_time))
        .where(FlowRunTable.deployment_id.in_(deployment_ids), FlowRunTable.auto_scheduled.is_(True))
        .group_by(FlowRunTable.deployment_id, schedule_id)
    )
    return {(deployment_id, sid): last for deployment_id, sid, last in session.execute(query) if last is not None}


def _lock_deployments(session: Session, deployment_ids: Sequence[UUID]) -> dict[UUID, tuple[datetime, bool]]:
    """``updated`` and ``is_schedule_active`` of the deployments, read inside the write transaction.

    On PostgreSQL the rows are locked (``FOR NO KEY UPDATE SKIP LOCKED``: runs may still reference
    them) until commit; a deployment another transaction is changing is left out for this loop. On
    SQLite the write transaction (``BEGIN IMMEDIATE``) already keeps every other writer out.
    """
    found: dict[UUID, tuple[datetime, bool]] = {}
    for offset in range(0, len(deployment_ids), 500):
        query = (
            select(DeploymentTable.id, DeploymentTable.updated, DeploymentTable.is_schedule_active)
            .where(DeploymentTable.id.in_(deployment_ids[offset : offset + 500]))
            .with_for_update(key_share=True, skip_locked=True)
        )
        found.update({row.id: (row.updated, row.is_schedule_active) for row in session.execute(query)})
    return found
