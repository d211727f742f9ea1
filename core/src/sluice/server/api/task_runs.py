"""``/api/task_runs``: create (one, or many at once with their states), read, filter, set_state, states, delete.

Engines record task runs in bulk (``POST /api/task_runs/bulk``): a flow with 10,000 tasks sends a
few dozen requests, each inserted with a handful of statements. Task runs follow the flow-run state
rules (``sluice.server.orchestration``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from types import SimpleNamespace
from typing import Any
from uuid import UUID, uuid4

from fastapi import APIRouter, Response, status
from pydantic import ValidationError
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sluice.errors import ObjectAlreadyExists, ObjectNotFound
from sluice.schemas.states import (
    DEFAULT_NAMES,
    TERMINAL_STATES,
    SetStateRequest,
    SetStateResult,
    State,
    StateCreate,
    StateType,
)
from sluice.schemas.task_runs import (
    TaskRun,
    TaskRunBulkReport,
    TaskRunBulkResult,
    TaskRunCreate,
    TaskRunFilter,
    TaskRunSort,
    TaskRunStateHistory,
)
from sluice.server.api.common import get_or_404, paginate
from sluice.server.api.deps import ReadSessionDep, SessionDep
from sluice.server.api.responses import already_there, model_response, repaired_model
from sluice.server.database.tables import FlowRunTable, TaskRunStateTable, TaskRunTable
from sluice.server.database.types import utcnow
from sluice.server.orchestration import current_state, rejection_reason, state_time

router = APIRouter(prefix="/task_runs", tags=["Task runs"])

_SORTS = {
    TaskRunSort.EXPECTED_START_TIME_ASC: (TaskRunTable.expected_start_time.asc(),),
    TaskRunSort.EXPECTED_START_TIME_DESC: (TaskRunTable.expected_start_time.desc(),),
    TaskRunSort.END_TIME_DESC: (TaskRunTable.end_time.desc(),),
    TaskRunSort.NAME_ASC: (TaskRunTable.name.asc(),),
}

_INSERT_RUN = insert(TaskRunTable.__table__)
_INSERT_STATE = insert(TaskRunStateTable.__table__)
#: The most ids one ``IN (...)`` lists: well under every driver's limit on bound parameters.
_CHUNK = 500


def to_task_run(row: Any) -> TaskRun:
    """The API form of a task-run row, with its current state (a corrupt row with defaults)."""
    try:
        run = TaskRun.model_validate(row, from_attributes=True)
    except ValidationError:
        run = repaired_model(TaskRun, row, f"task run {row.id}")
    run.state = current_state(_with_schedule(row))
    return run


def _with_schedule(row: Any) -> Any:
    """``current_state`` reads a scheduled time, which task runs do not keep."""
    if not hasattr(row, "next_scheduled_start_time"):
        return SimpleNamespace(
            state_type=row.state_type,
            state_name=row.state_name,
            state_timestamp=row.state_timestamp,
            state_message=row.state_message,
            updated=row.updated,
            next_scheduled_start_time=None,
        )
    return row


def apply_task_run_state(run: Any, proposed: StateCreate, now: datetime) -> dict[str, Any]:
    """Put ``run`` (a task-run row or namespace) in ``proposed``; return the history row to insert.

    RUNNING counts an attempt (``run_count``) and sets ``start_time`` the first time; a terminal state
    sets ``end_time`` (cleared by a retry). The state is dated by the client's timestamp, never later
    than ``now`` nor earlier than the run's current state.
    """
    when = state_time(run, proposed, now)
    new = proposed.type
    if run.expected_start_time is None:
        run.expected_start_time = when
    if new is StateType.RUNNING:
        run.run_count = (run.run_count or 0) + 1
        if run.start_time is None:
            run.start_time = when
    if new in TERMINAL_STATES:
        run.end_time = when
    elif run.end_time is not None:
        run.end_time = None
    name = proposed.name or DEFAULT_NAMES[new]
    run.state_type = new.value
    run.state_name = name
    run.state_timestamp = when
    run.state_message = proposed.message
    run.updated = now
    return {
        "id": proposed.id or uuid4(),
        "task_run_id": run.id,
        "type": new.value,
        "name": name,
        "timestamp": when,
        "message": proposed.message,
        "created": now,
        "updated": now,
    }


def _new_run(body: TaskRunCreate, now: datetime) -> SimpleNamespace:
    values = body.model_dump(exclude={"state", "id"}, mode="python")
    values["task_inputs"] = {key: [str(value) for value in ids] for key, ids in body.task_inputs.items()}
    return SimpleNamespace(
        **values,
        id=body.id or uuid4(),
        created=now,
        updated=now,
        state_type=None,
        state_name=None,
        state_timestamp=None,
        state_message=None,
        expected_start_time=None,
        start_time=None,
        end_time=None,
        run_count=0,
    )


def _chunks(values: list[Any]) -> Iterable[list[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _existing_ids(session: Session, column: Any, ids: Iterable[UUID]) -> set[UUID]:
    found: set[UUID] = set()
    for chunk in _chunks(list(set(ids))):
        found.update(session.scalars(select(column).where(column.in_(chunk))))
    return found


@router.post("/", response_model=TaskRun, status_code=status.HTTP_201_CREATED, responses=already_there(TaskRun))
def create_task_run(body: TaskRunCreate, session: SessionDep) -> Response:
    """Create a task run of a flow run. Without a state it is PENDING.

    An ``id`` already stored answers 200 with the stored run; a (flow run, task key, dynamic key) that
    another run has is a 409.
    """
    if body.id is not None:
        existing = session.get(TaskRunTable, body.id)
        if existing is not None:
            return model_response(to_task_run(existing), status.HTTP_200_OK)
    get_or_404(session, FlowRunTable, body.flow_run_id, "flow run")
    now = utcnow()
    run = _new_run(body, now)
    history = apply_task_run_state(run, body.state or StateCreate(type=StateType.PENDING), now)
    try:
        session.execute(_INSERT_RUN, [vars(run)])
        session.execute(_INSERT_STATE, [history])
        session.commit()
    except IntegrityError:
        session.rollback()
        raise ObjectAlreadyExists(
            f"flow run {body.flow_run_id} already has a task run with task key {body.task_key!r} and dynamic key "
            f"{body.dynamic_key!r}; give each call of a task its own dynamic key"
        ) from None
    return model_response(to_task_run(run), status.HTTP_201_CREATED)


@router.post("/bulk", response_model=TaskRunBulkResult)
def bulk_report(body: TaskRunBulkReport, session: SessionDep) -> Response:
    """Create task runs, then apply state changes, in the order given, in one transaction.

    Idempotent: a run or a state whose id is stored already is skipped. A task run of a flow run that
    does not exist (deleted meanwhile) and a state of an unknown task run or one the rules refuse are
    left out and listed in ``rejected`` with the reason; the rest is stored.
    """
    now = utcnow()
    result = TaskRunBulkResult()
    fresh: dict[UUID, SimpleNamespace] = {}
    history: list[dict[str, Any]] = []
    known_flow_runs = _existing_ids(session, FlowRunTable.id, (item.flow_run_id for item in body.task_runs))
    stored = _existing_ids(session, TaskRunTable.id, (item.id for item in body.task_runs if item.id is not None))
    for item in body.task_runs:
        if item.id is not None and (item.id in stored or item.id in fresh):
            continue
        if item.flow_run_id not in known_flow_runs:
            result.rejected.append({"task_run_id": str(item.id), "reason": f"flow run {item.flow_run_id} not found"})
            continue
        run = _new_run(item, now)
        history.append(apply_task_run_state(run, item.state or StateCreate(type=StateType.PENDING), now))
        fresh[run.id] = run
    result.created = len(fresh)
    loaded = _load_for_update(session, {change.task_run_id for change in body.states} - set(fresh))
    recorded = _existing_ids(session, TaskRunStateTable.id, (c.state.id for c in body.states if c.state.id))
    recorded.update(row["id"] for row in history)
    for change in body.states:
        if change.state.id is not None and change.state.id in recorded:
            continue
        run = fresh.get(change.task_run_id) or loaded.get(change.task_run_id)
        if run is None:
            result.rejected.append({"task_run_id": str(change.task_run_id), "reason": "task run not found"})
            continue
        current_type = StateType(run.state_type) if run.state_type else None
        reason = rejection_reason(current_type, run.state_name, change.state)
        if reason is not None:
            result.rejected.append({"task_run_id": str(change.task_run_id), "reason": reason})
            continue
        row = apply_task_run_state(run, change.state, now)
        recorded.add(row["id"])
        history.append(row)
        result.states += 1
    result.states += len(fresh)  # each new run's first state
    try:
        if fresh:
            session.execute(_INSERT_RUN, [vars(run) for run in fresh.values()])
        if history:
            session.execute(_INSERT_STATE, history)
        session.commit()
    except IntegrityError:
        session.rollback()
        raise ObjectAlreadyExists(
            "a task run in the report has the (flow run, task key, dynamic key) of another one; "
            "give each call of a task its own dynamic key"
        ) from None
    return model_response(result)


def _load_for_update(session: Session, ids: set[UUID]) -> dict[UUID, TaskRunTable]:
    loaded: dict[UUID, TaskRunTable] = {}
    for chunk in _chunks(sorted(ids)):
        query = select(TaskRunTable).where(TaskRunTable.id.in_(chunk)).with_for_update()
        loaded.update((row.id, row) for row in session.scalars(query))
    return loaded


@router.get("/{task_run_id}", response_model=TaskRun)
def read_task_run(task_run_id: UUID, session: ReadSessionDep) -> Response:
    """Read a task run by id."""
    return model_response(to_task_run(get_or_404(session, TaskRunTable, task_run_id, "task run")))


@router.post("/filter", response_model=list[TaskRun])
def filter_task_runs(session: ReadSessionDep, body: TaskRunFilter | None = None) -> Response:
    """List task runs matching every criterion given, sorted and paginated."""
    body = body or TaskRunFilter()
    query = select(TaskRunTable)
    conditions = {
        TaskRunTable.id: body.ids,
        TaskRunTable.flow_run_id: body.flow_run_ids,
        TaskRunTable.parent_task_run_id: body.parent_task_run_ids,
        TaskRunTable.task_key: body.task_keys,
        TaskRunTable.name: body.names,
    }
    for column, values in conditions.items():
        if values is not None:
            query = query.where(column.in_(values))
    if body.state_types is not None:
        query = query.where(TaskRunTable.state_type.in_([state.value for state in body.state_types]))
    query = query.order_by(*_SORTS[body.sort], TaskRunTable.id)
    return model_response([to_task_run(row) for row in session.scalars(paginate(query, body))])


@router.post("/{task_run_id}/set_state", response_model=SetStateResult)
def set_task_run_state(task_run_id: UUID, body: SetStateRequest, session: SessionDep) -> Response:
    """Propose a new state. A refused transition answers 200 with REJECT, the current state and why."""
    query = select(TaskRunTable).where(TaskRunTable.id == task_run_id).with_for_update()
    run = session.scalars(query).first()
    if run is None:
        raise ObjectNotFound(f"task run {task_run_id} not found")
    if body.state.id is not None:
        recorded = session.get(TaskRunStateTable, body.state.id)
        if recorded is not None:
            if recorded.task_run_id != task_run_id:
                session.rollback()
                raise ObjectAlreadyExists(
                    f"state id {recorded.id} is already used by another task run; give each state a new id"
                )
            state = State(
                id=recorded.id,
                type=StateType(recorded.type),
                name=recorded.name,
                timestamp=recorded.timestamp,
                message=recorded.message,
            )
            session.rollback()
            return model_response(SetStateResult(status="ACCEPT", state=state))
    current_type = StateType(run.state_type) if run.state_type else None
    reason = None if body.force else rejection_reason(current_type, run.state_name, body.state)
    if reason is not None:
        state = current_state(_with_schedule(run))
        session.rollback()
        return model_response(SetStateResult(status="REJECT", state=state, reason=reason))
    session.execute(_INSERT_STATE, [apply_task_run_state(run, body.state, utcnow())])
    session.commit()
    return model_response(SetStateResult(status="ACCEPT", state=current_state(_with_schedule(run))))


@router.get("/{task_run_id}/states", response_model=list[TaskRunStateHistory])
def read_task_run_states(task_run_id: UUID, session: ReadSessionDep) -> Response:
    """Every state the task run entered, oldest first."""
    get_or_404(session, TaskRunTable, task_run_id, "task run")
    query = (
        select(TaskRunStateTable)
        .where(TaskRunStateTable.task_run_id == task_run_id)
        .order_by(TaskRunStateTable.timestamp, TaskRunStateTable.created)
    )
    return model_response([TaskRunStateHistory.model_validate(row) for row in session.scalars(query)])


@router.delete("/{task_run_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_task_run(task_run_id: UUID, session: SessionDep) -> None:
    """Delete a task run with its state history."""
    session.delete(get_or_404(session, TaskRunTable, task_run_id, "task run"))
    session.commit()
