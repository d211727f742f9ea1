"""Backfill: one run per time a deployment's active schedules fire in a window, skipping times that
have a run already.

The runs get the scheduler's idempotency keys (``scheduled_runs.scheduled_run_key``), so a backfill
and the scheduler — or two backfills of overlapping windows — never create a time twice. A run for a
past time keeps that time as its ``expected_start_time`` (the time it stands for) and may start at
once: lateness counts from when it was created.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy.orm import Session

from sluice.errors import ConfigurationError
from sluice.schedules import Schedule
from sluice.schemas.scheduling import MAX_BACKFILL_RUNS, BackfillRequest, BackfillResult, BackfillRun
from sluice.server.api.common import get_or_404
from sluice.server.database.tables import DeploymentTable
from sluice.server.models.deployment_schedules import ScheduleCache, active_entries
from sluice.server.models.scheduled_runs import (
    DeploymentRunFields,
    existing_keys,
    insert_scheduled_runs,
    new_scheduled_run,
    scheduled_run_key,
)

_schedules = ScheduleCache(max_size=1000)
#: Times computed per ``get_dates`` call of a backfill (see ``dates_in_window``).
CHUNK_DATES = 10_000
_MICROSECOND = timedelta(microseconds=1)


def plan_backfill(row: DeploymentTable, start: datetime, end: datetime) -> list[tuple[str, datetime]]:
    """``(schedule id, time)`` for every time an active schedule of ``row`` fires from ``start`` to
    ``end``, in time order; at most ``MAX_BACKFILL_RUNS + 1`` (one more says "too many")."""
    entries = active_entries(row.schedules, row.schedule)
    if not entries:
        raise ConfigurationError(f"deployment {row.name!r} has no active schedule to backfill")
    planned: list[tuple[str, datetime]] = []
    for entry in entries:
        schedule = _schedules.get(entry.schedule)
        if schedule is None:
            raise ConfigurationError(
                f"schedule {entry.id} of deployment {row.name!r} cannot be read on this server "
                f"(type {entry.schedule.get('type')!r}: is its plugin installed?)"
            )
        room = MAX_BACKFILL_RUNS + 1 - len(planned)
        planned += [(entry.id, when) for when in dates_in_window(schedule, room, start, end)]
        if len(planned) > MAX_BACKFILL_RUNS:
            break
    planned.sort(key=lambda item: (item[1], item[0]))
    return planned


def dates_in_window(schedule: Schedule, n: int, start: datetime, end: datetime) -> list[datetime]:
    """At most ``n`` times ``schedule`` fires from ``start`` to ``end``, asked ``CHUNK_DATES`` at a time.

    Each chunk is one computation under the schedule budget, which is sized for finding a
    schedule's next few times: a window of 100,000 times must not be refused for its size alone.
    A schedule too costly to compute raises ``ScheduleBudgetExceeded`` (a 422) on its first chunk.
    """
    dates: list[datetime] = []
    cursor = start
    while len(dates) < n:
        chunk = schedule.get_dates(min(CHUNK_DATES, n - len(dates)), cursor, end)
        dates += chunk
        if len(chunk) < CHUNK_DATES:
            break
        cursor = chunk[-1] + _MICROSECOND
    return dates


def backfill_deployment(
    session: Session, deployment_id: UUID, request: BackfillRequest, now: datetime
) -> BackfillResult:
    """Create (or with ``dry_run`` only list) the runs of the window; the caller's session is committed.

    A window with more than ``request.max_runs`` times is refused with a ``ConfigurationError``
    naming the count, before anything is created.
    """
    row = get_or_404(session, DeploymentTable, deployment_id, "deployment")
    planned = plan_backfill(row, request.start, request.end)
    window = f"from {request.start.isoformat()} to {request.end.isoformat()}"
    if len(planned) > MAX_BACKFILL_RUNS:
        raise ConfigurationError(
            f"the window {window} holds more than {MAX_BACKFILL_RUNS:,} runs; backfill a shorter one"
        )
    if len(planned) > request.max_runs and not request.dry_run:
        raise ConfigurationError(
            f"the window {window} holds {len(planned):,} runs, more than max_runs={request.max_runs:,}; "
            "raise max_runs to create them all"
        )
    keys = [scheduled_run_key(row.id, schedule_id, when) for schedule_id, when in planned]
    found = existing_keys(session, row.flow_id, keys)
    created: set[str] = set()
    if not request.dry_run:
        fields = DeploymentRunFields(row.id, row.flow_id, row.parameters, row.tags, row.work_queue_name)
        runs = [
            new_scheduled_run(fields, schedule_id, when, now, start_at=max(when, now))
            for (schedule_id, when), key in zip(planned, keys, strict=True)
            if key not in found
        ]
        inserted = insert_scheduled_runs(session, runs)
        session.commit()
        created = {run["idempotency_key"] for run in inserted}
        found.update({run["idempotency_key"]: run["id"] for run in inserted})
        missing = [key for key in keys if key not in found]
        if missing:  # created by a scheduler or another backfill a moment ago
            found.update(existing_keys(session, row.flow_id, missing))
    listed = [
        BackfillRun(
            schedule_id=UUID(schedule_id),
            expected_start_time=when,
            exists=key in found and key not in created,
            flow_run_id=found.get(key),
        )
        for (schedule_id, when), key in zip(planned, keys, strict=True)
    ]
    existing = sum(1 for run in listed if run.exists)
    return BackfillResult(
        deployment_id=row.id,
        start=request.start,
        end=request.end,
        dry_run=request.dry_run,
        total=len(listed),
        created=len(created),
        existing=existing,
        runs=listed,
    )
