"""``/api/work_queues``: create, read, read by name, update, filter, delete.

Claiming runs (``POST /api/work_queues/claim``) lives in its own router module, added to the app
next to this one.
"""

from __future__ import annotations

from uuid import UUID, uuid4

from fastapi import APIRouter, Response, status
from sqlalchemy import select

from sluice.errors import ObjectAlreadyExists, ObjectNotFound
from sluice.schemas.work_queues import WorkQueue, WorkQueueCreate, WorkQueueFilter, WorkQueueUpdate
from sluice.server.api import work_queue_preview
from sluice.server.api.common import get_or_404, paginate
from sluice.server.api.deps import ReadSessionDep, SessionDep
from sluice.server.api.responses import model_response
from sluice.server.database.tables import WorkQueueTable
from sluice.server.database.types import utcnow

router = APIRouter(prefix="/work_queues", tags=["Work queues"])


def to_work_queue(row: WorkQueueTable) -> WorkQueue:
    """The API form of a work-queue row."""
    return WorkQueue.model_validate(row, from_attributes=True)


@router.post("/", response_model=WorkQueue, status_code=status.HTTP_201_CREATED)
def create_work_queue(body: WorkQueueCreate, session: SessionDep) -> Response:
    """Create a work queue; a name already used is a 409."""
    if session.scalars(select(WorkQueueTable.id).where(WorkQueueTable.name == body.name)).first():
        raise ObjectAlreadyExists(f"work queue {body.name!r} already exists")
    now = utcnow()
    queue = WorkQueueTable(id=uuid4(), created=now, updated=now, **body.model_dump())
    session.add(queue)
    session.commit()
    return model_response(to_work_queue(queue), status.HTTP_201_CREATED)


@router.get("/{work_queue_id}", response_model=WorkQueue)
def read_work_queue(work_queue_id: UUID, session: ReadSessionDep) -> Response:
    """Read a work queue by id."""
    return model_response(to_work_queue(get_or_404(session, WorkQueueTable, work_queue_id, "work queue")))


@router.get("/name/{name}", response_model=WorkQueue)
def read_work_queue_by_name(name: str, session: ReadSessionDep) -> Response:
    """Read a work queue by name."""
    queue = session.scalars(select(WorkQueueTable).where(WorkQueueTable.name == name)).first()
    if queue is None:
        raise ObjectNotFound(f"work queue {name!r} not found")
    return model_response(to_work_queue(queue))


@router.patch("/{work_queue_id}", response_model=WorkQueue)
def update_work_queue(work_queue_id: UUID, body: WorkQueueUpdate, session: SessionDep) -> Response:
    """Change the fields given (pause with ``{"is_paused": true}``); a name already used is a 409."""
    queue = get_or_404(session, WorkQueueTable, work_queue_id, "work queue")
    values = body.model_dump(exclude_unset=True)
    for field in ("name", "is_paused", "priority"):
        if field in values and values[field] is None:
            del values[field]  # these columns cannot be empty
    if "name" in values and values["name"] != queue.name:
        taken = select(WorkQueueTable.id).where(WorkQueueTable.name == values["name"])
        if session.scalars(taken).first():
            raise ObjectAlreadyExists(f"work queue {values['name']!r} already exists")
    for field, value in values.items():
        setattr(queue, field, value)
    queue.updated = utcnow()
    session.commit()
    return model_response(to_work_queue(queue))


@router.post("/filter", response_model=list[WorkQueue])
def filter_work_queues(session: ReadSessionDep, body: WorkQueueFilter | None = None) -> Response:
    """List work queues, by priority then name."""
    body = body or WorkQueueFilter()
    query = select(WorkQueueTable)
    if body.ids is not None:
        query = query.where(WorkQueueTable.id.in_(body.ids))
    if body.names is not None:
        query = query.where(WorkQueueTable.name.in_(body.names))
    if body.is_paused is not None:
        query = query.where(WorkQueueTable.is_paused == body.is_paused)
    query = query.order_by(WorkQueueTable.priority, WorkQueueTable.name)
    return model_response([to_work_queue(row) for row in session.scalars(paginate(query, body))])


@router.delete("/{work_queue_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_work_queue(work_queue_id: UUID, session: SessionDep) -> None:
    """Delete a work queue (deployments naming it recreate it on their next update)."""
    session.delete(get_or_404(session, WorkQueueTable, work_queue_id, "work queue"))
    session.commit()


# The preview lives in its own module; its route shares this router's prefix and tag.
router.include_router(work_queue_preview.router)
