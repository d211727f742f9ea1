"""``/api/deployments``: upsert, read, read by name, filter, update, delete, schedules, create_flow_run."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from fastapi import APIRouter, Request, Response, status
from pydantic import ValidationError
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sluice.errors import ObjectNotFound
from sluice.schemas.deployments import (
    Deployment,
    DeploymentCreate,
    DeploymentFilter,
    DeploymentFlowRunCreate,
    DeploymentSort,
    DeploymentUpdate,
)
from sluice.schemas.flow_runs import FlowRun
from sluice.schemas.states import StateCreate, StateType
from sluice.server.api import deployment_backfill
from sluice.server.api.common import ensure_flow, ensure_work_queue, get_or_404, json_list_has_all, json_list_has_any
from sluice.server.api.deps import ReadSessionDep, SessionDep, SettingsDep, secret_box_of
from sluice.server.api.flow_runs import insert_flow_run, to_flow_run
from sluice.server.api.parameters import check_parameter_schema, check_parameters_size, validate_parameters
from sluice.server.api.responses import already_there, model_response, repaired_model
from sluice.server.database.tables import BlockDocumentTable, DeploymentTable, FlowRunTable, FlowTable
from sluice.server.database.types import utcnow
from sluice.server.encryption import SecretBox
from sluice.server.models.deployment_schedules import normalise_schedule_values, resolve_schedule_values
from sluice.server.models.scheduled_runs import delete_future_scheduled_runs, delete_outdated_runs, scheduling_snapshot
from sluice.server.secret_overrides import masked_overrides, protected_overrides, revealed_overrides
from sluice.settings import Settings

router = APIRouter(prefix="/deployments", tags=["Deployments"])

# Built once: constructing a statement costs more than running it on SQLite.
_FOR_NEW_RUN = select(
    DeploymentTable.id,
    DeploymentTable.name,
    DeploymentTable.flow_id,
    DeploymentTable.parameters,
    DeploymentTable.parameter_openapi_schema,
    DeploymentTable.work_queue_name,
    DeploymentTable.tags,
).where(DeploymentTable.id == bindparam("id"))
_BY_NAME = (
    select(DeploymentTable)
    .join(FlowTable, FlowTable.id == DeploymentTable.flow_id)
    .where(FlowTable.name == bindparam("flow_name"), DeploymentTable.name == bindparam("deployment_name"))
)

_SORTS = {
    DeploymentSort.NAME_ASC: DeploymentTable.name.asc(),
    DeploymentSort.NAME_DESC: DeploymentTable.name.desc(),
    DeploymentSort.CREATED_DESC: DeploymentTable.created.desc(),
    DeploymentSort.UPDATED_DESC: DeploymentTable.updated.desc(),
}


def to_deployment(row: DeploymentTable, flow_name: str | None, secrets: SecretBox | None = None) -> Deployment:
    """The API form of a deployment row (a corrupt row with its unfit fields at their defaults).

    Secret ``infra_overrides`` are masked, or decrypted with ``secrets`` (``include_secrets=true``).
    """
    try:
        deployment = Deployment.model_validate(row, from_attributes=True)
    except ValidationError:
        deployment = repaired_model(Deployment, row, f"deployment {row.id}")
    deployment.flow_name = flow_name
    if secrets is None:
        deployment.infra_overrides = masked_overrides(deployment.infra_overrides)
    else:
        deployment.infra_overrides = revealed_overrides(deployment.infra_overrides, secrets)
    return deployment


def _flow_name(session: Session, flow_id: UUID) -> str | None:
    return session.scalar(select(FlowTable.name).where(FlowTable.id == flow_id))


def _column_values(body: DeploymentCreate | DeploymentUpdate, exclude_unset: bool) -> dict[str, Any]:
    return body.model_dump(exclude_unset=exclude_unset, exclude={"name", "flow_id", "flow_name"})


def _check_references(session: Session, values: dict[str, Any], settings: Settings) -> None:
    check_parameters_size(values.get("parameters"), settings.server_max_parameters_bytes, "the deployment")
    check_parameter_schema(values.get("parameter_openapi_schema"))
    for field in ("storage_document_id", "infrastructure_document_id"):
        if values.get(field) is not None:
            get_or_404(session, BlockDocumentTable, values[field], f"block document ({field})")


#: Sluice-only fields an upsert of an existing deployment keeps when its body leaves them out
#: (Prefect 2 clients, and deployment.yaml files, do not know them): only `null`/`[]` clears them.
_KEPT_UNLESS_GIVEN = ("schedules", "max_lateness", "concurrency_limit", "catchup")


def _keep_fields_left_out(values: dict[str, Any], given: set[str]) -> None:
    """Drop from ``values`` the kept fields the body did not give, so the stored ones stay.

    ``schedule`` alone replaces the list by that schedule; with neither ``schedule`` nor
    ``schedules`` the list is kept.
    """
    for field in _KEPT_UNLESS_GIVEN:
        if field not in given:
            values.pop(field, None)
    if "schedule" not in given and "schedules" not in given:
        values.pop("schedule", None)


@router.post("/", response_model=Deployment, status_code=status.HTTP_201_CREATED, responses=already_there(Deployment))
def create_deployment(body: DeploymentCreate, session: SessionDep, settings: SettingsDep, request: Request) -> Response:
    """Create a deployment, or replace the fields of the one with the same flow and name (200, same id).

    On an existing deployment, ``schedules``, ``schedule``, ``max_lateness``, ``concurrency_limit``
    and ``catchup`` left out of the body keep their values (see ``_keep_fields_left_out``). The flow
    (given by ``flow_name``) and the work queue are created on first use.
    """
    given = _column_values(body, exclude_unset=False)
    normalise_schedule_values(given)  # before any lock: it computes the schedules' next dates
    for attempt in range(2):
        values = dict(given)  # resolve_schedule_values rewrites it: a retry starts from the body again
        if body.flow_id is not None:
            flow = get_or_404(session, FlowTable, body.flow_id, "flow")
        else:
            flow = ensure_flow(session, body.flow_name or "")
        _check_references(session, values, settings)
        ensure_work_queue(session, body.work_queue_name)
        query = select(DeploymentTable).where(DeploymentTable.flow_id == flow.id, DeploymentTable.name == body.name)
        existing = session.scalars(query.with_for_update()).first()
        now = utcnow()
        status_code = status.HTTP_201_CREATED
        if existing is not None:
            _keep_fields_left_out(values, body.model_fields_set)
        values["infra_overrides"] = protected_overrides(
            values.get("infra_overrides"),
            existing.infra_overrides if existing is not None else None,
            lambda: secret_box_of(request.app),
        )
        resolve_schedule_values(values, existing.schedules if existing is not None else ())
        if existing is None:
            row = DeploymentTable(id=uuid4(), name=body.name, flow_id=flow.id, created=now, updated=now, **values)
            session.add(row)
        else:
            row = existing
            before = scheduling_snapshot(row)
            for field, value in values.items():
                setattr(row, field, value)
            row.updated = now
            delete_outdated_runs(session, row, before, now)
            status_code = status.HTTP_200_OK
        try:
            session.commit()
        except IntegrityError:
            session.rollback()  # another request created it first: update that one instead
            if attempt:
                raise
            continue
        return model_response(to_deployment(row, flow.name), status_code)
    raise AssertionError("unreachable")  # pragma: no cover


def _secrets_if(include_secrets: bool, request: Request) -> SecretBox | None:
    return secret_box_of(request.app) if include_secrets else None


@router.get("/{deployment_id}", response_model=Deployment)
def read_deployment(
    deployment_id: UUID, session: ReadSessionDep, request: Request, include_secrets: bool = False
) -> Response:
    """Read a deployment by id; secret ``infra_overrides`` masked unless ``include_secrets=true``."""
    row = get_or_404(session, DeploymentTable, deployment_id, "deployment")
    secrets = _secrets_if(include_secrets, request)
    return model_response(to_deployment(row, _flow_name(session, row.flow_id), secrets))


@router.get("/name/{flow_name}/{deployment_name}", response_model=Deployment)
def read_deployment_by_name(
    flow_name: str, deployment_name: str, request: Request, include_secrets: bool = False
) -> Response:
    """Read a deployment by its flow's name and its own; secret ``infra_overrides`` masked unless
    ``include_secrets=true``."""
    # A hot read: its session is opened here rather than through ReadSessionDep (see create_flow_run).
    with request.app.state.database.read_session() as session:
        row = session.scalars(_BY_NAME, {"flow_name": flow_name, "deployment_name": deployment_name}).first()
    if row is None:
        raise ObjectNotFound(f"deployment {flow_name}/{deployment_name} not found")
    return model_response(to_deployment(row, flow_name, _secrets_if(include_secrets, request)))


@router.post("/filter", response_model=list[Deployment])
def filter_deployments(session: ReadSessionDep, body: DeploymentFilter | None = None) -> Response:
    """List deployments matching every criterion given, sorted and paginated."""
    body = body or DeploymentFilter()
    query = select(DeploymentTable, FlowTable.name).join(FlowTable, FlowTable.id == DeploymentTable.flow_id)
    if body.ids is not None:
        query = query.where(DeploymentTable.id.in_(body.ids))
    if body.names is not None:
        query = query.where(DeploymentTable.name.in_(body.names))
    if body.flow_names is not None:
        query = query.where(FlowTable.name.in_(body.flow_names))
    if body.work_queue_names is not None:
        query = query.where(DeploymentTable.work_queue_name.in_(body.work_queue_names))
    if body.is_schedule_active is not None:
        query = query.where(DeploymentTable.is_schedule_active == body.is_schedule_active)
    if body.tags_any:
        query = query.where(json_list_has_any(session, DeploymentTable.tags, body.tags_any))
    if body.tags_all:
        query = query.where(json_list_has_all(session, DeploymentTable.tags, body.tags_all))
    query = query.order_by(_SORTS[body.sort], DeploymentTable.id).limit(body.limit).offset(body.offset)
    return model_response([to_deployment(row, flow_name) for row, flow_name in session.execute(query)])


@router.patch("/{deployment_id}", response_model=Deployment)
def update_deployment(
    deployment_id: UUID, body: DeploymentUpdate, session: SessionDep, settings: SettingsDep, request: Request
) -> Response:
    """Change the fields given; the others keep their values (a secret override sent as
    ``********`` keeps its stored value)."""
    values = _column_values(body, exclude_unset=True)
    normalise_schedule_values(values)  # before any lock: it computes the schedules' next dates
    row = get_or_404(session, DeploymentTable, deployment_id, "deployment")
    _check_references(session, values, settings)
    if values.get("infra_overrides"):
        box = lambda: secret_box_of(request.app)  # noqa: E731
        values["infra_overrides"] = protected_overrides(values["infra_overrides"], row.infra_overrides, box)
    ensure_work_queue(session, values.get("work_queue_name"))
    before = scheduling_snapshot(row)
    resolve_schedule_values(values, row.schedules)
    for field, value in values.items():
        if field in ("infra_overrides", "parameters", "tags", "schedules") and value is None:
            value = [] if field in ("tags", "schedules") else {}
        setattr(row, field, value)
    row.updated = utcnow()
    delete_outdated_runs(session, row, before, row.updated)
    session.commit()
    return model_response(to_deployment(row, _flow_name(session, row.flow_id)))


@router.delete("/{deployment_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_deployment(deployment_id: UUID, session: SessionDep) -> None:
    """Delete a deployment; its runs stay, detached from it, except the future auto-scheduled ones."""
    row = get_or_404(session, DeploymentTable, deployment_id, "deployment")
    delete_future_scheduled_runs(session, row.id, utcnow())
    session.delete(row)
    session.commit()


def _set_schedule_active(session: Session, deployment_id: UUID, active: bool) -> Response:
    row = get_or_404(session, DeploymentTable, deployment_id, "deployment")
    before = scheduling_snapshot(row)
    row.is_schedule_active = active
    row.updated = utcnow()
    delete_outdated_runs(session, row, before, row.updated)
    session.commit()
    return model_response(to_deployment(row, _flow_name(session, row.flow_id)))


@router.post("/{deployment_id}/set_schedule_active", response_model=Deployment)
def set_schedule_active(deployment_id: UUID, session: SessionDep) -> Response:
    """Turn the deployment's schedule on."""
    return _set_schedule_active(session, deployment_id, True)


@router.post("/{deployment_id}/set_schedule_inactive", response_model=Deployment)
def set_schedule_inactive(deployment_id: UUID, session: SessionDep) -> Response:
    """Turn the deployment's schedule off; its future auto-scheduled runs are deleted (manual ones stay)."""
    return _set_schedule_active(session, deployment_id, False)


@router.post(
    "/{deployment_id}/create_flow_run",
    response_model=FlowRun,
    status_code=status.HTTP_201_CREATED,
    responses=already_there(FlowRun),
)
def create_flow_run_from_deployment(
    deployment_id: UUID, request: Request, body: DeploymentFlowRunCreate | None = None
) -> Response:
    """Create a run of the deployment: parameters merged over its defaults and checked against its
    parameter schema (a wrong one is a 422 naming it); SCHEDULED for now unless ``state`` says otherwise."""
    # The hottest write of the API: it opens its session itself rather than through SessionDep,
    # which saves FastAPI's dependency-with-yield machinery on every call.
    body = body or DeploymentFlowRunCreate()
    state = request.app.state
    with state.database.session() as session:
        deployment = session.execute(_FOR_NEW_RUN, {"id": deployment_id}).first()
        if deployment is None:
            raise ObjectNotFound(f"deployment {deployment_id} not found")
        parameters = {**deployment.parameters, **body.parameters}
        if body.parameters:  # the deployment's own were checked when they were saved
            limit = state.settings.server_max_parameters_bytes
            check_parameters_size(parameters, limit, f"a run of deployment {deployment.name!r}")
        validate_parameters(parameters, deployment.parameter_openapi_schema, f"deployment {deployment.name!r}")
        values = {
            "flow_id": deployment.flow_id,
            "deployment_id": deployment.id,
            "name": body.name,
            "work_queue_name": body.work_queue_name or deployment.work_queue_name,
            "parameters": parameters,
            "tags": body.tags if body.tags is not None else list(deployment.tags),
            "idempotency_key": body.idempotency_key,
            "parent_flow_run_id": body.parent_flow_run_id,
            "expected_start_time": body.expected_start_time,
        }
        if body.parent_flow_run_id is not None:
            get_or_404(session, FlowRunTable, body.parent_flow_run_id, "parent flow run")
        state = body.state or StateCreate(type=StateType.SCHEDULED)
        # The deployment created its own queue; only another queue named here may need creating.
        other_queue = values["work_queue_name"] != deployment.work_queue_name
        run, created = insert_flow_run(session, values, state, ensure_queue=other_queue)
    return model_response(to_flow_run(run), status.HTTP_201_CREATED if created else status.HTTP_200_OK)


# Backfill lives in its own module; its route shares this router's prefix and tag.
router.include_router(deployment_backfill.router)
