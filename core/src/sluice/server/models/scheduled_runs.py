"""Runs created from schedules: their idempotency keys, batched inserts, and clearing them on change.

Every run a schedule creates — by the scheduler service or by a backfill — has the idempotency key
``scheduled {deployment_id} {schedule_id} {time in UTC, ISO 8601}``. The database keeps
(flow, idempotency key) unique and inserts skip taken keys (``ON CONFLICT DO NOTHING`` on
PostgreSQL, a check under SQLite's write lock; see ``bulk_runs``), so several schedulers (server
replicas) and backfills racing over the same times create each run exactly once.

When a deployment's schedules, parameters, tags or work queue change, or its schedule is paused,
``delete_outdated_runs`` removes the future auto-scheduled runs that no longer match (still
SCHEDULED, not started); the next scheduler loop creates the new ones. Runs created by hand
(``auto_scheduled`` false) are never touched.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.orm import Session

from sluice.schemas.states import StateType
from sluice.server.database.tables import DeploymentTable, FlowRunTable
from sluice.server.models.bulk_runs import insert_new_runs
from sluice.server.models.deployment_schedules import active_entries
from sluice.server.names import generate_run_name

KEY_PREFIX = "scheduled "
#: 1-based position and length of the schedule id in a key: after the prefix and a 36-character UUID.
_SCHEDULE_ID_START = len(KEY_PREFIX) + 36 + 2
_UUID_LENGTH = 36

SCHEDULED = StateType.SCHEDULED.value
LATE = "Late"


def scheduled_run_key(deployment_id: UUID | str, schedule_id: UUID | str, when: datetime) -> str:
    """The idempotency key of the run ``schedule_id`` of ``deployment_id`` creates for ``when``."""
    return f"{KEY_PREFIX}{deployment_id} {schedule_id} {when.astimezone(UTC).isoformat()}"


def key_schedule_id() -> ColumnElement[str]:
    """SQL: the schedule id inside a flow run's scheduled-run idempotency key."""
    return func.substr(FlowRunTable.idempotency_key, _SCHEDULE_ID_START, _UUID_LENGTH)


@dataclass(frozen=True)
class DeploymentRunFields:
    """What a scheduled run copies from its deployment."""

    id: UUID
    flow_id: UUID
    parameters: dict[str, Any]
    tags: list[str]
    work_queue_name: str | None


def new_scheduled_run(
    deployment: DeploymentRunFields, schedule_id: str, when: datetime, now: datetime, start_at: datetime | None = None
) -> dict[str, Any]:
    """The column values of a new SCHEDULED, auto-scheduled run of ``deployment`` for ``when``.

    ``expected_start_time`` is ``when``; ``start_at`` (default ``when``) is when it may start and
    lateness counts from — a backfilled run of a past time may start now. A run whose start is
    already past is named ``Late``.
    """
    when = when.astimezone(UTC)
    start_at = when if start_at is None else start_at
    return {
        "id": uuid4(),
        "created": now,
        "updated": now,
        "name": generate_run_name(),
        "flow_id": deployment.flow_id,
        "deployment_id": deployment.id,
        "work_queue_name": deployment.work_queue_name,
        "parameters": deployment.parameters,
        "tags": deployment.tags,
        "state_type": SCHEDULED,
        "state_name": LATE if start_at < now else "Scheduled",
        "state_timestamp": now,
        "state_message": None,
        "expected_start_time": when,
        "next_scheduled_start_time": start_at,
        "start_time": None,
        "end_time": None,
        "run_count": 0,
        "idempotency_key": scheduled_run_key(deployment.id, schedule_id, when),
        "agent_id": None,
        "infrastructure_pid": None,
        "parent_flow_run_id": None,
        "parent_task_run_id": None,
        "auto_scheduled": True,
    }


def insert_scheduled_runs(session: Session, runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Insert ``runs`` (from ``new_scheduled_run``) with their first state-history rows; a run whose
    key exists already is skipped (see ``bulk_runs.insert_new_runs``). Returns the runs inserted; the
    caller commits."""
    by_id = {run["id"]: run for run in runs}
    return [by_id[run_id] for run_id in insert_new_runs(session, runs)]


def existing_keys(session: Session, flow_id: UUID, keys: Iterable[str]) -> dict[str, UUID]:
    """The ids of the runs of ``flow_id`` that hold each of ``keys``, by key."""
    keys = list(keys)
    found: dict[str, UUID] = {}
    for offset in range(0, len(keys), 500):
        query = select(FlowRunTable.idempotency_key, FlowRunTable.id).where(
            FlowRunTable.flow_id == flow_id, FlowRunTable.idempotency_key.in_(keys[offset : offset + 500])
        )
        found.update({key: run_id for key, run_id in session.execute(query)})
    return found


# -- schedule changes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SchedulingSnapshot:
    """The fields of a deployment that its future scheduled runs depend on."""

    is_active: bool
    active_schedule_ids: frozenset[str]
    run_fields: tuple[str, str, str | None]


def scheduling_snapshot(row: DeploymentTable) -> SchedulingSnapshot:
    """Take a snapshot of ``row`` before changing it, for ``delete_outdated_runs``."""
    import json

    entries = active_entries(row.schedules, row.schedule)
    run_fields = (
        json.dumps(row.parameters, sort_keys=True, default=str),
        json.dumps(row.tags),
        row.work_queue_name,
    )
    return SchedulingSnapshot(bool(row.is_schedule_active), frozenset(entry.id for entry in entries), run_fields)


def delete_outdated_runs(session: Session, row: DeploymentTable, before: SchedulingSnapshot, now: datetime) -> int:
    """Delete the future auto-scheduled runs of ``row`` that its change made outdated; returns how many.

    Call it after setting the new values on ``row`` and before committing. A paused schedule or
    changed parameters, tags or work queue outdate every such run; otherwise only the runs of
    schedules that were removed or turned off go (another schedule's runs stay). A run is outdated
    only while it has not started: SCHEDULED with an expected start after ``now``.
    """
    after = scheduling_snapshot(row)
    if after == before:
        return 0
    # Write the row first: on PostgreSQL this waits for a scheduler loop holding the deployment, so
    # the runs that loop committed are seen (and deleted) here.
    session.flush()
    keep = None
    if after.is_active and after.run_fields == before.run_fields:
        keep = after.active_schedule_ids
    return _delete_future_runs(session, row.id, now, keep)


def delete_future_scheduled_runs(session: Session, deployment_id: UUID, now: datetime) -> int:
    """Delete every future auto-scheduled run of a deployment that is about to be deleted itself.

    The deployment row is locked first (PostgreSQL), for the reason given in ``delete_outdated_runs``.
    """
    session.execute(select(DeploymentTable.id).where(DeploymentTable.id == deployment_id).with_for_update())
    return _delete_future_runs(session, deployment_id, now, None)


def _delete_future_runs(session: Session, deployment_id: UUID, now: datetime, keep: frozenset[str] | None) -> int:
    """Delete the deployment's auto-scheduled runs still SCHEDULED after ``now``, except those of
    the schedule ids in ``keep``."""
    condition = [
        FlowRunTable.deployment_id == deployment_id,
        FlowRunTable.auto_scheduled.is_(True),
        FlowRunTable.state_type == SCHEDULED,
        FlowRunTable.expected_start_time > now,
    ]
    if keep is not None:
        condition.append(key_schedule_id().not_in(sorted(keep)))
    result = session.execute(delete(FlowRunTable).where(*condition).execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


def too_late(start_at: datetime | None, max_lateness: int | None, now: datetime) -> bool:
    """Whether a run meant to start at ``start_at`` is later than the deployment's ``max_lateness``
    seconds at ``now`` (and must be cancelled rather than started). For the late-runs service and
    for claims."""
    if start_at is None or max_lateness is None:
        return False
    return now - start_at > timedelta(seconds=max_lateness)


def drop_too_late_runs(session: Session, runs: Sequence[Any], now: datetime) -> list[Any]:
    """The ``runs`` (flow-run rows about to be claimed) minus those later than their deployment's
    ``max_lateness``: a claim must not start them (the late-runs service cancels them). One query."""
    deployment_ids = {run.deployment_id for run in runs if run.deployment_id is not None}
    if not deployment_ids:
        return list(runs)
    query = select(DeploymentTable.id, DeploymentTable.max_lateness).where(
        DeploymentTable.id.in_(deployment_ids), DeploymentTable.max_lateness.is_not(None)
    )
    limits = {deployment_id: max_lateness for deployment_id, max_lateness in session.execute(query)}
    if not limits:
        return list(runs)
    return [
        run
        for run in runs
        if not too_late(run.next_scheduled_start_time or run.expected_start_time, limits.get(run.deployment_id), now)
    ]
