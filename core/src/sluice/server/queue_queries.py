"""The SQL behind the queue store (``queue_store``): reading queues, runs and counts, writing claims.

Everything takes a session whose transaction the store owns; ``lock`` asks for the row locks a
claim holds on PostgreSQL (SQLite's ``BEGIN IMMEDIATE`` already keeps every other writer out).
Runs are read as plain rows (``SimpleNamespace``, not ORM objects), then their deployments' tags and
``max_lateness`` in a second query.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Select, and_, bindparam, false, func, insert, or_, select, update
from sqlalchemy.orm import Session

from sluice.queues import ACTIVE_STATE_TYPES, RETRY_STATE_NAME, ClaimRequest, QueuedRun, WorkQueue, queues_handing_out
from sluice.schemas.states import StateCreate, StateType
from sluice.server.api.common import json_list_has_all
from sluice.server.database.tables import DeploymentTable, FlowRunStateTable, FlowRunTable, WorkQueueTable
from sluice.server.orchestration import apply_state

_RUNS = FlowRunTable.__table__
_PENDING = StateCreate(type=StateType.PENDING)
SCHEDULED = StateType.SCHEDULED.value


# -- queues --------------------------------------------------------------------------------------


def _queue(row: WorkQueueTable) -> WorkQueue:
    return WorkQueue(
        id=row.id,
        name=row.name,
        is_paused=bool(row.is_paused),
        concurrency_limit=row.concurrency_limit,
        filter=tuple(row.filter) if row.filter else None,
        last_polled=row.last_polled,
    )


def select_queues(session: Session, request: ClaimRequest | None, lock: bool) -> list[WorkQueue]:
    """The queues ``request`` names (by name, by ``match`` prefix; all without a request), in id
    order; with ``lock``, the unpaused limited ones locked (in id order) first."""
    query = select(WorkQueueTable).order_by(WorkQueueTable.id)
    if request is not None:
        conditions: list[ColumnElement[bool]] = []
        if request.queues:
            conditions.append(WorkQueueTable.name.in_(list(request.queues)))
        if request.match:
            prefix = request.match.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            conditions.append(WorkQueueTable.name.like(f"{prefix}%", escape="\\"))
        if not conditions:
            return []
        query = query.where(or_(*conditions))
    rows = list(session.scalars(query))
    limited = [row.id for row in rows if row.concurrency_limit is not None and not row.is_paused]
    if lock and limited:
        locking = select(WorkQueueTable.id).where(WorkQueueTable.id.in_(limited)).order_by(WorkQueueTable.id)
        list(session.scalars(locking.with_for_update(key_share=True)))
        session.expire_all()
        rows = list(session.scalars(query))
    return [_queue(row) for row in rows]


def queues_named(session: Session, names: Sequence[str]) -> list[WorkQueue]:
    """The queues with these names."""
    return [_queue(row) for row in session.scalars(select(WorkQueueTable).where(WorkQueueTable.name.in_(list(names))))]


def queue_run_condition(session: Session, queue: WorkQueue) -> ColumnElement[bool]:
    """The runs a queue hands out: those named after it, or — a legacy tag queue — those whose
    deployment has every tag of its filter."""
    if not queue.filter:
        return FlowRunTable.work_queue_name == queue.name
    deployments = select(DeploymentTable.id).where(json_list_has_all(session, DeploymentTable.tags, queue.filter))
    return FlowRunTable.deployment_id.in_(deployments)


def runs_of_queues(session: Session, queues: Sequence[WorkQueue]) -> ColumnElement[bool]:
    """The runs any of ``queues`` hands out (plain queues in one ``IN``)."""
    plain = [queue.name for queue in queues if not queue.filter]
    conditions: list[ColumnElement[bool]] = [FlowRunTable.work_queue_name.in_(plain)] if plain else []
    conditions += [queue_run_condition(session, queue) for queue in queues if queue.filter]
    return or_(*conditions) if conditions else false()


def active_counts(session: Session, queues: Sequence[WorkQueue]) -> dict[str, int]:
    """Active runs (PENDING, RUNNING, CANCELLING) of each queue, by name."""
    counts = {queue.name: 0 for queue in queues}
    plain = [queue.name for queue in queues if not queue.filter]
    if plain:
        query = (
            select(FlowRunTable.work_queue_name, func.count())
            .where(FlowRunTable.work_queue_name.in_(plain), FlowRunTable.state_type.in_(ACTIVE_STATE_TYPES))
            .group_by(FlowRunTable.work_queue_name)
        )
        counts.update({name: int(number) for name, number in session.execute(query)})
    for queue in queues:
        if queue.filter:
            query = select(func.count()).select_from(FlowRunTable)
            query = query.where(queue_run_condition(session, queue), FlowRunTable.state_type.in_(ACTIVE_STATE_TYPES))
            counts[queue.name] = int(session.scalar(query) or 0)
    return counts


def record_polled(session: Session, queue_ids: Sequence[UUID], now: datetime) -> None:
    """Set ``last_polled`` on the queues."""
    if queue_ids:
        table = WorkQueueTable.__table__
        session.connection().execute(update(table).where(table.c.id.in_(list(queue_ids))).values(last_polled=now))


def record_polled_by_name(session: Session, names: Sequence[str], now: datetime, every: timedelta) -> None:
    """Set ``last_polled`` on the named queues not recorded within ``every``."""
    table = WorkQueueTable.__table__
    stale = or_(table.c.last_polled.is_(None), table.c.last_polled < now - every)
    statement = update(table).where(table.c.name.in_(list(names)), stale).values(last_polled=now)
    session.connection().execute(statement)


# -- runs ----------------------------------------------------------------------------------------


#: The columns a ``QueuedRun`` is made of: what reads that return no rows for answers select.
_BRIEF = [
    _RUNS.c[name]
    for name in (
        "id",
        "state_type",
        "state_name",
        "state_timestamp",
        "work_queue_name",
        "deployment_id",
        "expected_start_time",
        "next_scheduled_start_time",
    )
]


def _run_query(brief: bool = False) -> Select[Any]:
    """Flow-run rows, whole or (``brief``) only the columns of a ``QueuedRun`` (their deployments' tags
    and ``max_lateness`` are read after, for the rows returned: joined in, they would be read for
    every candidate the sort goes through)."""
    return select(*_BRIEF) if brief else select(_RUNS)


def _claimable() -> ColumnElement[bool]:
    return and_(FlowRunTable.state_type == SCHEDULED, FlowRunTable.state_name != RETRY_STATE_NAME)


def _deployment_not_full() -> ColumnElement[bool]:
    # An explicit alias, so that the count never refers to the outer flow_run row.
    active_run = _RUNS.alias("active_run")
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


def _read(
    session: Session, query: Select[Any], queues: Sequence[WorkQueue], rows: dict[UUID, Any] | None = None
) -> list[QueuedRun]:
    """Run ``query`` (from ``_run_query``); the runs, with their plain rows kept in ``rows``."""
    found = [SimpleNamespace(**record._mapping) for record in session.connection().execute(query)]
    facts = _deployment_facts(session, {row.deployment_id for row in found if row.deployment_id is not None})
    runs = []
    for row in found:
        if rows is not None:
            rows[row.id] = row
        tags, max_lateness = facts.get(row.deployment_id, ((), None))
        runs.append(queued_run(row, tags, max_lateness, queues))
    return runs


def _deployment_facts(session: Session, deployment_ids: set[UUID]) -> dict[UUID, tuple[Any, int | None]]:
    """The tags and ``max_lateness`` of each deployment."""
    if not deployment_ids:
        return {}
    query = select(DeploymentTable.id, DeploymentTable.tags, DeploymentTable.max_lateness).where(
        DeploymentTable.id.in_(sorted(deployment_ids))
    )
    return {row.id: (row.tags or (), row.max_lateness) for row in session.execute(query)}


def queued_run(row: Any, deployment_tags: Any, max_lateness: int | None, queues: Sequence[WorkQueue]) -> QueuedRun:
    """The ``QueuedRun`` of a plain flow-run row."""
    start_at = row.next_scheduled_start_time or row.expected_start_time
    deadline = start_at + timedelta(seconds=max_lateness) if start_at is not None and max_lateness is not None else None
    return QueuedRun(
        id=row.id,
        state_type=row.state_type,
        state_name=row.state_name,
        state_timestamp=row.state_timestamp,
        work_queue_name=row.work_queue_name,
        deployment_id=row.deployment_id,
        expected_start_time=row.expected_start_time,
        deadline=deadline,
        queues=queues_handing_out(row.work_queue_name, deployment_tags, queues),
    )


def due_runs(
    session: Session,
    queues: Sequence[WorkQueue],
    horizon: datetime,
    limit: int,
    skip_full_deployments: bool,
    lock: bool,
    rows: dict[UUID, Any],
) -> list[QueuedRun]:
    """Claimable runs of the unpaused ``queues`` due by ``horizon``, oldest first; locked with
    ``SKIP LOCKED`` when asked."""
    queues = [queue for queue in queues if not queue.is_paused]
    if not queues or limit <= 0:
        return []
    conditions = [_claimable(), FlowRunTable.expected_start_time <= horizon, runs_of_queues(session, queues)]
    if skip_full_deployments:
        conditions.append(_deployment_not_full())
    query = _run_query().where(*conditions).order_by(_RUNS.c.expected_start_time, _RUNS.c.id).limit(limit)
    if lock:
        query = query.with_for_update(skip_locked=True, key_share=True)
    return _read(session, query, queues, rows)


def has_due_runs(session: Session, queues: Sequence[WorkQueue], horizon: datetime) -> bool:
    """Whether any claimable run of the unpaused ``queues`` is due by ``horizon`` (the first match
    answers: no sort, no lock)."""
    queues = [queue for queue in queues if not queue.is_paused]
    if not queues:
        return False
    conditions = (_claimable(), FlowRunTable.expected_start_time <= horizon, runs_of_queues(session, queues))
    return session.execute(select(_RUNS.c.id).where(*conditions).limit(1)).first() is not None


def runs_page(
    session: Session, condition: ColumnElement[bool], queues: Sequence[WorkQueue], after: UUID | None, limit: int
) -> list[QueuedRun]:
    """Runs matching ``condition`` by id, ``limit`` after ``after``."""
    query = _run_query(brief=True).where(condition)
    if after is not None:
        query = query.where(_RUNS.c.id > after)
    return _read(session, query.order_by(_RUNS.c.id).limit(limit), queues)


def claimable_runs(session: Session, queues: Sequence[WorkQueue], after: UUID | None, limit: int) -> list[QueuedRun]:
    """A page of the claimable runs of ``queues`` (paused ones too), by id."""
    return runs_page(session, and_(_claimable(), runs_of_queues(session, queues)), queues, after, limit)


def active_runs(session: Session, queues: Sequence[WorkQueue], after: UUID | None, limit: int) -> list[QueuedRun]:
    """A page of every active run, by id."""
    return runs_page(session, FlowRunTable.state_type.in_(ACTIVE_STATE_TYPES), queues, after, limit)


def read_runs(
    session: Session, run_ids: Iterable[UUID], queues: Sequence[WorkQueue], lock: bool, rows: dict[UUID, Any] | None
) -> dict[UUID, QueuedRun]:
    """The runs with ``run_ids`` that exist, by id; locked in id order when asked."""
    ids = sorted(set(run_ids))
    found: dict[UUID, QueuedRun] = {}
    for offset in range(0, len(ids), 500):
        query = _run_query(brief=rows is None).where(_RUNS.c.id.in_(ids[offset : offset + 500])).order_by(_RUNS.c.id)
        if lock:
            query = query.with_for_update(key_share=True)
        found.update({run.id: run for run in _read(session, query, queues, rows)})
    return found


def next_due_time(session: Session, queues: Sequence[WorkQueue], after: datetime) -> datetime | None:
    """The earliest expected start after ``after`` of the claimable runs of the unpaused ``queues``."""
    queues = [queue for queue in queues if not queue.is_paused]
    if not queues:
        return None
    query = select(func.min(FlowRunTable.expected_start_time)).where(
        _claimable(), FlowRunTable.expected_start_time > after, runs_of_queues(session, queues)
    )
    value = session.scalar(query)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


# -- deployments ---------------------------------------------------------------------------------


def deployment_limits(session: Session, deployment_ids: Iterable[UUID] | None, lock: bool) -> dict[UUID, int]:
    """The limits of the limited deployments among ``deployment_ids`` (all for None), locked in id
    order when asked."""
    query = select(DeploymentTable.id, DeploymentTable.concurrency_limit).where(
        DeploymentTable.concurrency_limit.is_not(None)
    )
    if deployment_ids is not None:
        ids = sorted(set(deployment_ids))
        if not ids:
            return {}
        query = query.where(DeploymentTable.id.in_(ids))
    query = query.order_by(DeploymentTable.id)
    if lock:
        query = query.with_for_update(key_share=True)
    return {row.id: int(row.concurrency_limit) for row in session.execute(query)}


def deployment_active_counts(session: Session, deployment_ids: Iterable[UUID]) -> dict[UUID, int]:
    """Active runs of each deployment."""
    ids = sorted(set(deployment_ids))
    if not ids:
        return {}
    counts = session.execute(
        select(FlowRunTable.deployment_id, func.count())
        .where(FlowRunTable.deployment_id.in_(ids), FlowRunTable.state_type.in_(ACTIVE_STATE_TYPES))
        .group_by(FlowRunTable.deployment_id)
    )
    found = {deployment_id: 0 for deployment_id in ids}
    found.update({deployment_id: int(number) for deployment_id, number in counts})
    return found


def has_deployment_limits(session: Session) -> bool:
    """Whether any deployment has a concurrency limit."""
    query = select(DeploymentTable.id).where(DeploymentTable.concurrency_limit.is_not(None)).limit(1)
    return session.scalar(query) is not None


# -- writing claims ------------------------------------------------------------------------------


def build_answers(
    rows: Sequence[Any], agent_id: UUID, now: datetime, build_answer: Callable[[Any], Any] | None
) -> tuple[list[Any], list[Any], list[tuple[Any, Exception]]]:
    """The answer of each row as it will be once claimed (PENDING, for ``agent_id``).

    Returns the rows it succeeded for, their answers, and the rows it raised for with the error.
    Without ``build_answer`` the answers are the claimed rows themselves.
    """
    claimed, answers, failures = [], [], []
    for row in rows:
        pending = SimpleNamespace(**vars(row))
        apply_state(pending, _PENDING, now)
        pending.agent_id = agent_id
        if build_answer is None:
            answers.append(pending)
            claimed.append(row)
            continue
        try:
            answers.append(build_answer(pending))
        except Exception as exc:  # one unreadable row must not stop the claim of the others
            failures.append((row, exc))
            continue
        claimed.append(row)
    return claimed, answers, failures


def mark_pending(session: Session, rows: Sequence[Any], agent_id: UUID, now: datetime) -> None:
    """Set ``rows`` PENDING for ``agent_id`` with a history row each (bulk statements)."""
    history = []
    for row in rows:
        history.append(apply_state(row, _PENDING, now))
        row.agent_id = agent_id
    write_states(session, rows, history, now)


def mark_unreadable(session: Session, failures: Sequence[tuple[Any, Exception]], now: datetime) -> None:
    """End runs whose answer could not be built CRASHED, each with the error in its message.

    Such a run can never start (its agent could not read it either); left SCHEDULED it would be
    the first candidate of every claim and hold the queue up.
    """
    history = []
    for row, error in failures:
        message = f"Sluice could not hand this run to an agent, its stored data cannot be read: {_describe(error)}"
        history.append(apply_state(row, StateCreate(type=StateType.CRASHED, message=message[:2000]), now))
    write_states(session, [row for row, _ in failures], history, now)


def _describe(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {' '.join(line.strip() for line in lines[:3])}"


def write_states(session: Session, rows: Sequence[Any], history: list[dict[str, Any]], now: datetime) -> None:
    """Write the state columns of ``rows`` (plain rows, changed by ``apply_state``) and their history
    rows, on the session's connection (no session events: the store's writes are not announced)."""
    if not rows:
        return
    values = [
        {
            "run_id": row.id,
            "state_type": row.state_type,
            "state_name": row.state_name,
            "state_timestamp": now,
            "state_message": row.state_message,
            "next_scheduled_start_time": row.next_scheduled_start_time,
            "end_time": row.end_time,
            "updated": now,
            "agent_id": row.agent_id,
        }
        for row in rows
    ]
    statement = (
        update(_RUNS)
        .where(_RUNS.c.id == bindparam("run_id"))
        .values({name: bindparam(name) for name in values[0] if name != "run_id"})
    )
    connection = session.connection()
    connection.execute(statement, values)
    connection.execute(insert(FlowRunStateTable.__table__), history)
