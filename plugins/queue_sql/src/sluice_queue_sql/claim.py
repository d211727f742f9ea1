"""The claim: one transaction that moves due SCHEDULED runs to PENDING for one agent.

Steps, all inside one transaction (SQLite: ``BEGIN IMMEDIATE``, so claims run one at a time;
PostgreSQL: row locks, so claims on different queues run side by side):

1. Read the requested queues (by name, by prefix, legacy tag queues); drop paused ones. On
   PostgreSQL the queues that have a concurrency limit are locked (``FOR NO KEY UPDATE``, in id
   order) so that two claims never both count a free slot.
2. Count the active runs (PENDING, RUNNING, CANCELLING) of limited queues; drop full ones.
3. Select candidate runs — SCHEDULED, not ``AwaitingRetry``, due by now + prefetch, of a deployment
   that is not at its limit — oldest expected start first; PostgreSQL adds
   ``FOR NO KEY UPDATE SKIP LOCKED``, so concurrent claims take different runs without waiting.
4. Lock (PostgreSQL) and count the active runs of the candidates' limited deployments.
5. Admit candidates while the request's limit, their queue's and their deployment's slots allow;
   build the answer of each (the server's callback) and set them PENDING with the agent's id and a
   state-history row. A run whose answer cannot be built (a corrupt row) is set CRASHED instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, and_, bindparam, false, func, insert, or_, select, update
from sqlalchemy.orm import Session

from sluice.queues import ACTIVE_STATE_TYPES, ClaimRequest
from sluice.schemas.states import StateCreate, StateType
from sluice.server.api.common import json_list_has_all
from sluice.server.database.tables import DeploymentTable, FlowRunStateTable, FlowRunTable, WorkQueueTable
from sluice.server.database.types import utcnow
from sluice.server.models.scheduled_runs import drop_too_late_runs
from sluice.server.orchestration import RETRY_NAME, apply_state

_PENDING = StateCreate(type=StateType.PENDING)
#: How far past the request's limit candidates are read, so runs over a limit do not hide others.
_CANDIDATE_SLACK = 20
_LAST_POLLED_EVERY = timedelta(seconds=5)


@dataclass
class QueueSlot:
    """A queue taking part in a claim and how many more of its runs may become active."""

    row: WorkQueueTable
    free: int | None  # None: no limit


def requested_queues(session: Session, request: ClaimRequest, lock: bool) -> list[WorkQueueTable]:
    """The queues the request names (by name, by ``match`` prefix), in id order; limited ones
    locked on PostgreSQL."""
    conditions: list[ColumnElement[bool]] = []
    if request.queues:
        conditions.append(WorkQueueTable.name.in_(list(request.queues)))
    if request.match:
        prefix = request.match.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conditions.append(WorkQueueTable.name.like(f"{prefix}%", escape="\\"))
    if not conditions:
        return []
    rows = list(session.scalars(select(WorkQueueTable).where(or_(*conditions)).order_by(WorkQueueTable.id)))
    limited = [row.id for row in rows if row.concurrency_limit is not None and not row.is_paused]
    if lock and limited:
        query = select(WorkQueueTable.id).where(WorkQueueTable.id.in_(limited)).order_by(WorkQueueTable.id)
        list(session.scalars(query.with_for_update(key_share=True)))
        session.expire_all()
        rows = list(session.scalars(select(WorkQueueTable).where(or_(*conditions)).order_by(WorkQueueTable.id)))
    return rows


def queue_run_condition(session: Session, queue: WorkQueueTable) -> ColumnElement[bool]:
    """The runs a queue hands out: those named after it, or — a legacy tag queue — those whose
    deployment has every tag of its filter."""
    if not queue.filter:
        return FlowRunTable.work_queue_name == queue.name
    deployments = select(DeploymentTable.id).where(json_list_has_all(session, DeploymentTable.tags, queue.filter))
    return FlowRunTable.deployment_id.in_(deployments)


def queue_slots(session: Session, queues: Sequence[WorkQueueTable]) -> list[QueueSlot]:
    """Every unpaused queue with its free slots; full queues are left out."""
    slots = []
    for queue in queues:
        if queue.is_paused:
            continue
        if queue.concurrency_limit is None:
            slots.append(QueueSlot(queue, None))
            continue
        active = session.scalar(
            select(func.count())
            .select_from(FlowRunTable)
            .where(queue_run_condition(session, queue), FlowRunTable.state_type.in_(ACTIVE_STATE_TYPES))
        )
        free = queue.concurrency_limit - int(active or 0)
        if free > 0:
            slots.append(QueueSlot(queue, free))
    return slots


def _deployment_not_full() -> ColumnElement[bool]:
    # An explicit alias, so that the count never refers to the outer flow_run row.
    active_run = FlowRunTable.__table__.alias("active_run")
    active = (
        select(func.count())
        .select_from(active_run)
        .where(active_run.c.deployment_id == DeploymentTable.id, active_run.c.state_type.in_(ACTIVE_STATE_TYPES))
        .scalar_subquery()
    )
    full = select(DeploymentTable.id).where(
        DeploymentTable.concurrency_limit.is_not(None), DeploymentTable.concurrency_limit <= active
    )
    return or_(FlowRunTable.deployment_id.is_(None), FlowRunTable.deployment_id.not_in(full))


def candidate_runs(
    session: Session, slots: Sequence[QueueSlot], horizon: datetime, count: int, lock: bool
) -> list[Any]:
    """SCHEDULED runs of the slots' queues due by ``horizon``, oldest first, locked with SKIP LOCKED
    on PostgreSQL. Plain rows (``SimpleNamespace``), not ORM objects: they are written back in bulk."""
    if not slots:
        return []
    plain = [slot.row.name for slot in slots if not slot.row.filter]
    by_queue: list[ColumnElement[bool]] = [FlowRunTable.work_queue_name.in_(plain)] if plain else []
    by_queue += [queue_run_condition(session, slot.row) for slot in slots if slot.row.filter]
    table = FlowRunTable.__table__
    query = (
        select(table)
        .where(
            FlowRunTable.state_type == StateType.SCHEDULED.value,
            FlowRunTable.state_name != RETRY_NAME,
            FlowRunTable.expected_start_time <= horizon,
            or_(*by_queue) if by_queue else false(),
            _deployment_not_full(),
        )
        .order_by(FlowRunTable.expected_start_time, FlowRunTable.id)
        .limit(count)
    )
    if lock:
        query = query.with_for_update(skip_locked=True, key_share=True, of=table)
    return [SimpleNamespace(**row._mapping) for row in session.connection().execute(query)]


def deployment_slots(session: Session, runs: Sequence[Any], lock: bool) -> dict[UUID, int]:
    """Free slots of the limited deployments among ``runs`` (locked in id order on PostgreSQL)."""
    ids = sorted({run.deployment_id for run in runs if run.deployment_id is not None})
    if not ids:
        return {}
    query = (
        select(DeploymentTable.id, DeploymentTable.concurrency_limit)
        .where(DeploymentTable.id.in_(ids), DeploymentTable.concurrency_limit.is_not(None))
        .order_by(DeploymentTable.id)
    )
    if lock:
        query = query.with_for_update(key_share=True)
    limits = {row.id: row.concurrency_limit for row in session.execute(query)}
    if not limits:
        return {}
    counts = session.execute(
        select(FlowRunTable.deployment_id, func.count())
        .where(FlowRunTable.deployment_id.in_(list(limits)), FlowRunTable.state_type.in_(ACTIVE_STATE_TYPES))
        .group_by(FlowRunTable.deployment_id)
    )
    active = {deployment_id: int(number) for deployment_id, number in counts}
    return {deployment_id: limit - active.get(deployment_id, 0) for deployment_id, limit in limits.items()}


def _queue_of(run: Any, slots: Sequence[QueueSlot], session_tags: dict[UUID, set[str]]) -> QueueSlot | None:
    for slot in slots:
        if not slot.row.filter and run.work_queue_name == slot.row.name:
            return slot
    tags = session_tags.get(run.deployment_id) if run.deployment_id else None
    for slot in slots:
        if slot.row.filter and tags is not None and set(slot.row.filter) <= tags:
            return slot
    return None


def _deployment_tags(session: Session, runs: Sequence[Any], slots: Sequence[QueueSlot]) -> dict[UUID, set]:
    if not any(slot.row.filter for slot in slots):
        return {}
    ids = {run.deployment_id for run in runs if run.deployment_id is not None}
    if not ids:
        return {}
    rows = session.execute(select(DeploymentTable.id, DeploymentTable.tags).where(DeploymentTable.id.in_(ids)))
    return {row.id: set(row.tags or []) for row in rows}


def admit(session: Session, runs: Sequence[Any], slots: Sequence[QueueSlot], limit: int, lock: bool) -> list[Any]:
    """The candidates that fit the request's limit, their queue's and their deployment's slots."""
    free_by_deployment = deployment_slots(session, runs, lock)
    tags = _deployment_tags(session, runs, slots)
    admitted = []
    for run in runs:
        if len(admitted) >= limit:
            break
        slot = _queue_of(run, slots, tags)
        if slot is None or (slot.free is not None and slot.free <= 0):
            continue
        deployment_free = free_by_deployment.get(run.deployment_id) if run.deployment_id else None
        if deployment_free is not None and deployment_free <= 0:
            continue
        if slot.free is not None:
            slot.free -= 1
        if deployment_free is not None:
            free_by_deployment[run.deployment_id] = deployment_free - 1
        admitted.append(run)
    return admitted


def mark_pending(session: Session, runs: Sequence[Any], agent_id: UUID, now: datetime) -> None:
    """Set ``runs`` PENDING for ``agent_id`` with a history row each (bulk statements)."""
    history = []
    for run in runs:
        history.append(apply_state(run, _PENDING, now))
        run.agent_id = agent_id
    _write_states(session, runs, history, now)


def mark_unreadable(session: Session, failures: Sequence[tuple[Any, Exception]], now: datetime) -> None:
    """End runs whose answer could not be built CRASHED, each with the error in its message.

    Such a run can never start (its agent could not read it either); left SCHEDULED it would be
    the first candidate of every claim and hold the queue up.
    """
    history = []
    for run, error in failures:
        message = f"Sluice could not hand this run to an agent, its stored data cannot be read: {_describe(error)}"
        history.append(apply_state(run, StateCreate(type=StateType.CRASHED, message=message[:2000]), now))
    _write_states(session, [run for run, _ in failures], history, now)


def _describe(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {' '.join(line.strip() for line in lines[:3])}"


def _write_states(session: Session, runs: Sequence[Any], history: list[dict[str, Any]], now: datetime) -> None:
    """Write the state columns of ``runs`` (plain rows, changed by ``apply_state``) and their history rows."""
    if not runs:
        return
    values = [
        {
            "run_id": run.id,
            "state_type": run.state_type,
            "state_name": run.state_name,
            "state_timestamp": now,
            "state_message": run.state_message,
            "next_scheduled_start_time": run.next_scheduled_start_time,
            "end_time": run.end_time,
            "updated": now,
            "agent_id": run.agent_id,
        }
        for run in runs
    ]
    table = FlowRunTable.__table__
    statement = (
        update(table)
        .where(table.c.id == bindparam("run_id"))
        .values({name: bindparam(name) for name in values[0] if name != "run_id"})
    )
    connection = session.connection()
    connection.execute(statement, values)
    connection.execute(insert(FlowRunStateTable.__table__), history)


def build_answers(
    runs: Sequence[Any], agent_id: UUID, now: datetime, build_answer: Callable[[Any], Any]
) -> tuple[list[Any], list[Any], list[tuple[Any, Exception]]]:
    """``build_answer`` of each run as it will be once claimed (PENDING, for ``agent_id``).

    Returns the runs it succeeded for, their answers, and the runs it raised for with the error.
    """
    claimed, answers, failures = [], [], []
    for run in runs:
        pending = SimpleNamespace(**vars(run))
        apply_state(pending, _PENDING, now)
        pending.agent_id = agent_id
        try:
            answers.append(build_answer(pending))
        except Exception as exc:  # one unreadable row must not stop the claim of the others
            failures.append((run, exc))
            continue
        claimed.append(run)
    return claimed, answers, failures


def touch_queues(session: Session, queues: Sequence[WorkQueueTable], now: datetime) -> None:
    """Record ``last_polled`` on the queues (at most every few seconds, to keep their rows unlocked)."""
    stale = [q.id for q in queues if q.last_polled is None or q.last_polled < now - _LAST_POLLED_EVERY]
    if stale:
        session.connection().execute(
            update(WorkQueueTable.__table__).where(WorkQueueTable.__table__.c.id.in_(stale)).values(last_polled=now)
        )


def claimable_exists(session: Session, queues: Sequence[WorkQueueTable], horizon: datetime) -> bool:
    """A cheap read: is any SCHEDULED run of ``queues`` due by ``horizon``?"""
    slots = [QueueSlot(queue, None) for queue in queues if not queue.is_paused]
    if not slots:
        return False
    plain = [slot.row.name for slot in slots if not slot.row.filter]
    by_queue = [FlowRunTable.work_queue_name.in_(plain)] if plain else []
    by_queue += [queue_run_condition(session, slot.row) for slot in slots if slot.row.filter]
    query = select(FlowRunTable.id).where(
        and_(
            FlowRunTable.state_type == StateType.SCHEDULED.value,
            FlowRunTable.state_name != RETRY_NAME,
            FlowRunTable.expected_start_time <= horizon,
            or_(*by_queue),
        )
    )
    return session.scalars(query.limit(1)).first() is not None


def next_due_time(session: Session, queues: Sequence[WorkQueueTable], after: datetime) -> datetime | None:
    """The earliest expected start time after ``after`` among SCHEDULED runs of the unpaused
    ``queues``: when the next run not yet due comes due."""
    queues = [queue for queue in queues if not queue.is_paused]
    if not queues:
        return None
    conditions = [queue_run_condition(session, queue) for queue in queues]
    query = select(func.min(FlowRunTable.expected_start_time)).where(
        FlowRunTable.state_type == StateType.SCHEDULED.value,
        FlowRunTable.state_name != RETRY_NAME,
        FlowRunTable.expected_start_time > after,
        or_(*conditions),
    )
    value = session.scalar(query)
    if value is not None and value.tzinfo is None:
        from datetime import UTC

        value = value.replace(tzinfo=UTC)
    return value


def _admissible(
    session: Session, request: ClaimRequest, lock: bool, horizon: datetime | None = None
) -> tuple[list[WorkQueueTable], list[Any], datetime]:
    """Steps 1–5 short of writing: the requested queues, the runs a claim takes, and the PENDING time."""
    queues = requested_queues(session, request, lock)
    slots = queue_slots(session, queues)
    if horizon is None:
        horizon = utcnow() + timedelta(seconds=max(0.0, request.prefetch_seconds))
    # Extra candidates only where a limit may turn some away, so that they do not hide other runs.
    limited = any(slot.free is not None for slot in slots) or session.scalar(
        select(DeploymentTable.id).where(DeploymentTable.concurrency_limit.is_not(None)).limit(1)
    )
    runs = candidate_runs(session, slots, horizon, request.limit + (_CANDIDATE_SLACK if limited else 0), lock)
    admitted = admit(session, runs, slots, request.limit, lock)
    # The PENDING time is taken once every lock is held: a run that freed a slot this claim counted
    # as free always ended earlier, so the state history never shows a limit exceeded.
    now = utcnow()
    admitted = drop_too_late_runs(session, admitted, now)  # past max_lateness: cancelled, never started
    return queues, admitted, now


def claimable_now(session: Session, request: ClaimRequest, horizon: datetime) -> bool:
    """Would a claim take a run due by ``horizon`` now? The claim's own steps, read-only and unlocked,
    so that the answer counts limits, pauses and ``max_lateness`` exactly as a claim does."""
    if request.limit <= 0:
        return False
    return bool(_admissible(session, request, lock=False, horizon=horizon)[1])


def claim(
    session: Session, request: ClaimRequest, lock: bool, build_answer: Callable[[Any], Any] | None = None
) -> list[Any]:
    """Run steps 1–5 in ``session``'s transaction (the caller commits) and return the claimed runs.

    With ``build_answer`` the answer of each run is built here, inside the transaction, and the
    answers are returned instead: a run whose answer cannot be built is set CRASHED rather than
    PENDING, so no error after the commit can leave runs PENDING that no agent received.
    """
    queues, admitted, now = _admissible(session, request, lock)
    answers: list[Any] = admitted
    if admitted and build_answer is not None:
        admitted, answers, failures = build_answers(admitted, request.agent_id, now, build_answer)
        mark_unreadable(session, failures, now)
    if admitted:
        mark_pending(session, admitted, request.agent_id, now)
    touch_queues(session, queues, now)
    return answers
