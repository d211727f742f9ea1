"""``/api/flow_runs``: create, read, update, filter, set_state (with the transition rules), states, delete."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any
from uuid import UUID, uuid4

from fastapi import APIRouter, Response, status
from pydantic import ValidationError
from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sluice.errors import ObjectAlreadyExists, ObjectNotFound
from sluice.schemas.flow_runs import (
    FlowRun,
    FlowRunCreate,
    FlowRunFilter,
    FlowRunSort,
    FlowRunStateHistory,
    FlowRunUpdate,
)
from sluice.schemas.states import SetStateRequest, SetStateResult, State, StateCreate, StateType
from sluice.server.api.common import ensure_work_queue, get_or_404, json_list_has_all, json_list_has_any, paginate
from sluice.server.api.deps import ReadSessionDep, SessionDep, SettingsDep
from sluice.server.api.parameters import check_parameters_size
from sluice.server.api.responses import already_there, model_response, repaired_model
from sluice.server.database.tables import DeploymentTable, FlowRunStateTable, FlowRunTable, FlowTable
from sluice.server.database.types import utcnow
from sluice.server.names import generate_run_name
from sluice.server.orchestration import apply_state, current_state, rejection_reason

router = APIRouter(prefix="/flow_runs", tags=["Flow runs"])

_SORTS = {
    FlowRunSort.EXPECTED_START_TIME_ASC: (FlowRunTable.expected_start_time.asc(),),
    FlowRunSort.EXPECTED_START_TIME_DESC: (FlowRunTable.expected_start_time.desc(),),
    FlowRunSort.START_TIME_DESC: (FlowRunTable.start_time.desc(),),
    FlowRunSort.CREATED_DESC: (FlowRunTable.created.desc(),),
    FlowRunSort.NAME_ASC: (FlowRunTable.name.asc(),),
}


def to_flow_run(row: Any, strict: bool = False) -> FlowRun:
    """The API form of a flow-run row, with its current state.

    A corrupt row is answered with its unfit fields at their defaults (``repaired_model``), unless
    ``strict``: a claim hands a run to an agent exactly as stored, or not at all.
    """
    try:
        run = FlowRun.model_validate(row, from_attributes=True)
    except ValidationError:
        if strict:
            raise
        run = repaired_model(FlowRun, row, f"flow run {row.id}")
    run.state = current_state(row)
    return run


# Statements built once (building one costs more than running it on SQLite).
_INSERT_RUN = insert(FlowRunTable.__table__)
_INSERT_STATE = insert(FlowRunStateTable.__table__)
_BY_IDEMPOTENCY_KEY = select(FlowRunTable).where(
    FlowRunTable.flow_id == bindparam("flow_id"), FlowRunTable.idempotency_key == bindparam("key")
)

#: Column values of a new run that the caller does not give.
_NEW_RUN_DEFAULTS: dict[str, Any] = {
    "name": None,
    "deployment_id": None,
    "work_queue_name": None,
    "parameters": {},
    "tags": [],
    "state_type": None,
    "state_name": None,
    "state_timestamp": None,
    "state_message": None,
    "expected_start_time": None,
    "next_scheduled_start_time": None,
    "start_time": None,
    "end_time": None,
    "run_count": 0,
    "idempotency_key": None,
    "agent_id": None,
    "infrastructure_pid": None,
    "parent_flow_run_id": None,
    "parent_task_run_id": None,
    "auto_scheduled": False,
}


def insert_flow_run(
    session: Session, values: dict[str, Any], state: StateCreate, ensure_queue: bool = True
) -> tuple[Any, bool]:
    """Create a flow run in ``state`` and commit; returns ``(run, created)``.

    A run with the same (flow, idempotency key) is returned as it is instead (``created`` False),
    also when another request inserted it a moment before this one. Rows are inserted with Core
    statements: this is the hottest write of the API.
    """
    flow_id, key = values["flow_id"], values.get("idempotency_key")
    if key is not None:
        existing = _find_by_idempotency_key(session, flow_id, key)
        if existing is not None:
            return existing, False
    if ensure_queue:
        ensure_work_queue(session, values.get("work_queue_name"))
    now = utcnow()
    run = SimpleNamespace(**{**_NEW_RUN_DEFAULTS, **values, "id": uuid4(), "created": now, "updated": now})
    if not run.name:
        run.name = generate_run_name()
    history = apply_state(run, state, now)
    try:
        session.execute(_INSERT_RUN, [vars(run)])
        session.execute(_INSERT_STATE, [history])
        session.commit()
    except IntegrityError:
        session.rollback()
        existing = _find_by_idempotency_key(session, flow_id, key) if key is not None else None
        if existing is None:
            raise
        return existing, False
    return run, True


def _find_by_idempotency_key(session: Session, flow_id: UUID, key: str) -> FlowRunTable | None:
    return session.scalars(_BY_IDEMPOTENCY_KEY, {"flow_id": flow_id, "key": key}).first()


@router.post("/", response_model=FlowRun, status_code=status.HTTP_201_CREATED, responses=already_there(FlowRun))
def create_flow_run(body: FlowRunCreate, session: SessionDep, settings: SettingsDep) -> Response:
    """Create a flow run directly (``@flow`` calls, subflows). Without a state it is PENDING.

    An idempotency key already used for the flow answers 200 with the existing run. Parameters
    larger than ``SLUICE_SERVER_MAX_PARAMETERS_BYTES`` are a 413.
    """
    check_parameters_size(body.parameters, settings.server_max_parameters_bytes, "the flow run")
    get_or_404(session, FlowTable, body.flow_id, "flow")
    if body.deployment_id is not None:
        get_or_404(session, DeploymentTable, body.deployment_id, "deployment")
    if body.parent_flow_run_id is not None:
        get_or_404(session, FlowRunTable, body.parent_flow_run_id, "parent flow run")
    values = body.model_dump(exclude={"state"})
    state = body.state or StateCreate(type=StateType.PENDING)
    run, created = insert_flow_run(session, values, state)
    return model_response(to_flow_run(run), status.HTTP_201_CREATED if created else status.HTTP_200_OK)


@router.get("/{flow_run_id}", response_model=FlowRun)
def read_flow_run(flow_run_id: UUID, session: ReadSessionDep) -> Response:
    """Read a flow run by id."""
    return model_response(to_flow_run(get_or_404(session, FlowRunTable, flow_run_id, "flow run")))


@router.patch("/{flow_run_id}", response_model=FlowRun)
def update_flow_run(flow_run_id: UUID, body: FlowRunUpdate, session: SessionDep) -> Response:
    """Change a run's name, tags, agent or infrastructure id (its state changes through set_state)."""
    run = get_or_404(session, FlowRunTable, flow_run_id, "flow run")
    for field, value in body.model_dump(exclude_unset=True).items():
        setattr(run, field, value)
    run.updated = utcnow()
    session.commit()
    return model_response(to_flow_run(run))


@router.post("/filter", response_model=list[FlowRun])
def filter_flow_runs(session: ReadSessionDep, body: FlowRunFilter | None = None) -> Response:
    """List flow runs matching every criterion given, sorted and paginated."""
    body = body or FlowRunFilter()
    query = select(FlowRunTable)
    conditions = {
        FlowRunTable.id: body.ids,
        FlowRunTable.flow_id: body.flow_ids,
        FlowRunTable.deployment_id: body.deployment_ids,
        FlowRunTable.work_queue_name: body.work_queue_names,
        FlowRunTable.parent_flow_run_id: body.parent_flow_run_ids,
        FlowRunTable.parent_task_run_id: body.parent_task_run_ids,
        FlowRunTable.state_name: body.state_names,
    }
    for column, values in conditions.items():
        if values is not None:
            query = query.where(column.in_(values))
    if body.state_types is not None:
        query = query.where(FlowRunTable.state_type.in_([state.value for state in body.state_types]))
    if body.flow_names is not None:
        query = query.join(FlowTable, FlowTable.id == FlowRunTable.flow_id).where(FlowTable.name.in_(body.flow_names))
    if body.tags_any:
        query = query.where(json_list_has_any(session, FlowRunTable.tags, body.tags_any))
    if body.tags_all:
        query = query.where(json_list_has_all(session, FlowRunTable.tags, body.tags_all))
    if body.expected_start_time_after is not None:
        query = query.where(FlowRunTable.expected_start_time >= body.expected_start_time_after)
    if body.expected_start_time_before is not None:
        query = query.where(FlowRunTable.expected_start_time <= body.expected_start_time_before)
    query = query.order_by(*_SORTS[body.sort], FlowRunTable.id)
    return model_response([to_flow_run(row) for row in session.scalars(paginate(query, body))])


@router.post("/{flow_run_id}/set_state", response_model=SetStateResult)
def set_flow_run_state(flow_run_id: UUID, body: SetStateRequest, session: SessionDep) -> Response:
    """Propose a new state. A refused transition answers 200 with REJECT, the current state and why."""
    query = select(FlowRunTable).where(FlowRunTable.id == flow_run_id).with_for_update()
    run = session.scalars(query).first()
    if run is None:
        raise ObjectNotFound(f"flow run {flow_run_id} not found")
    if body.state.id is not None:
        recorded = session.get(FlowRunStateTable, body.state.id)
        if recorded is not None:
            return _already_recorded(session, flow_run_id, recorded)
    current_type = StateType(run.state_type) if run.state_type else None
    reason = None if body.force else rejection_reason(current_type, run.state_name, body.state)
    if reason is not None:
        state = current_state(run)
        session.rollback()
        return model_response(SetStateResult(status="REJECT", state=state, reason=reason))
    session.execute(_INSERT_STATE, [apply_state(run, body.state, utcnow())])
    session.commit()
    return model_response(SetStateResult(status="ACCEPT", state=current_state(run)))


def _already_recorded(session: Session, flow_run_id: UUID, recorded: FlowRunStateTable) -> Response:
    """The answer to a state proposed again with the id of one already recorded: ACCEPT, as the first time."""
    if recorded.flow_run_id != flow_run_id:
        session.rollback()
        raise ObjectAlreadyExists(
            f"state id {recorded.id} is already used by another flow run; give each state a new id"
        )
    state = State(
        id=recorded.id,
        type=StateType(recorded.type),
        name=recorded.name,
        timestamp=recorded.timestamp,
        message=recorded.message,
        scheduled_time=recorded.scheduled_time,
    )
    session.rollback()
    return model_response(SetStateResult(status="ACCEPT", state=state))


@router.get("/{flow_run_id}/states", response_model=list[FlowRunStateHistory])
def read_flow_run_states(flow_run_id: UUID, session: ReadSessionDep) -> Response:
    """Every state the run entered, oldest first."""
    get_or_404(session, FlowRunTable, flow_run_id, "flow run")
    query = (
        select(FlowRunStateTable)
        .where(FlowRunStateTable.flow_run_id == flow_run_id)
        .order_by(FlowRunStateTable.timestamp, FlowRunStateTable.created)
    )
    return model_response([FlowRunStateHistory.model_validate(row) for row in session.scalars(query)])


@router.delete("/{flow_run_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_flow_run(flow_run_id: UUID, session: SessionDep) -> None:
    """Delete a flow run with its state history and logs."""
    session.delete(get_or_404(session, FlowRunTable, flow_run_id, "flow run"))
    session.commit()
