"""``/api/flows``: create (idempotent by name), read, read by name, filter, delete."""

from __future__ import annotations

from uuid import UUID, uuid4

from fastapi import APIRouter, Response, status
from sqlalchemy import select

from sluice.errors import ObjectNotFound
from sluice.schemas.flows import Flow, FlowCreate, FlowFilter, FlowSort
from sluice.server.api.common import get_or_404, insert_if_missing, json_list_has_any, paginate
from sluice.server.api.deps import ReadSessionDep, SessionDep
from sluice.server.api.responses import already_there, model_response
from sluice.server.database.tables import FlowTable
from sluice.server.database.types import utcnow

router = APIRouter(prefix="/flows", tags=["Flows"])

_SORTS = {
    FlowSort.NAME_ASC: FlowTable.name.asc(),
    FlowSort.NAME_DESC: FlowTable.name.desc(),
    FlowSort.CREATED_DESC: FlowTable.created.desc(),
}


def to_flow(row: FlowTable) -> Flow:
    """The API form of a flow row."""
    return Flow.model_validate(row, from_attributes=True)


@router.post("/", response_model=Flow, status_code=status.HTTP_201_CREATED, responses=already_there(Flow))
def create_flow(body: FlowCreate, session: SessionDep) -> Response:
    """Create a flow; an existing name returns the existing flow (200) unchanged."""
    now = utcnow()
    values = {"id": uuid4(), "name": body.name, "tags": body.tags, "created": now, "updated": now}
    insert_if_missing(session, FlowTable, values, "name")
    flow = session.scalars(select(FlowTable).where(FlowTable.name == body.name)).one()
    session.commit()
    created = flow.id == values["id"]
    return model_response(to_flow(flow), status.HTTP_201_CREATED if created else status.HTTP_200_OK)


@router.get("/{flow_id}", response_model=Flow)
def read_flow(flow_id: UUID, session: ReadSessionDep) -> Response:
    """Read a flow by id."""
    return model_response(to_flow(get_or_404(session, FlowTable, flow_id, "flow")))


@router.get("/name/{name}", response_model=Flow)
def read_flow_by_name(name: str, session: ReadSessionDep) -> Response:
    """Read a flow by name."""
    flow = session.scalars(select(FlowTable).where(FlowTable.name == name)).first()
    if flow is None:
        raise ObjectNotFound(f"flow {name!r} not found")
    return model_response(to_flow(flow))


@router.post("/filter", response_model=list[Flow])
def filter_flows(session: ReadSessionDep, body: FlowFilter | None = None) -> Response:
    """List flows matching every criterion given, sorted and paginated."""
    body = body or FlowFilter()
    query = select(FlowTable)
    if body.ids is not None:
        query = query.where(FlowTable.id.in_(body.ids))
    if body.names is not None:
        query = query.where(FlowTable.name.in_(body.names))
    if body.tags_any:
        query = query.where(json_list_has_any(session, FlowTable.tags, body.tags_any))
    query = query.order_by(_SORTS[body.sort], FlowTable.id)
    return model_response([to_flow(row) for row in session.scalars(paginate(query, body))])


@router.delete("/{flow_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_flow(flow_id: UUID, session: SessionDep) -> None:
    """Delete a flow with its deployments and runs."""
    flow = get_or_404(session, FlowTable, flow_id, "flow")
    session.delete(flow)
    session.commit()
