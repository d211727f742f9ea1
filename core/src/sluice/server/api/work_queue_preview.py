"""``POST /api/work_queues/preview``: the runs agents of some (or all) work queues will be handed soon.

Included in the work-queues router (same prefix and tag).
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Response
from sqlalchemy import select

from sluice.errors import ObjectNotFound
from sluice.schemas.scheduling import UpcomingRun, WorkQueuePreview
from sluice.server.api.deps import ReadSessionDep
from sluice.server.api.flow_runs import to_flow_run
from sluice.server.api.responses import model_response
from sluice.server.database.tables import DeploymentTable, FlowRunTable, FlowTable, WorkQueueTable
from sluice.server.database.types import utcnow
from sluice.server.orchestration import RETRY_NAME

router = APIRouter()


@router.post("/preview", response_model=list[UpcomingRun])
def preview_work_queues(session: ReadSessionDep, body: WorkQueuePreview | None = None) -> Response:
    """SCHEDULED runs due within ``hours`` (Late ones included), of the named queues or of every
    queue, soonest first, with their flow and deployment names. An unknown queue name is a 404."""
    body = body or WorkQueuePreview()
    horizon = utcnow() + timedelta(hours=body.hours)
    query = (
        select(FlowRunTable, FlowTable.name, DeploymentTable.name)
        .join(FlowTable, FlowTable.id == FlowRunTable.flow_id)
        .outerjoin(DeploymentTable, DeploymentTable.id == FlowRunTable.deployment_id)
        .where(
            FlowRunTable.state_type == "SCHEDULED",
            FlowRunTable.state_name != RETRY_NAME,  # held by the engine retrying it, not by a queue
            FlowRunTable.expected_start_time <= horizon,
        )
    )
    if body.work_queue_names is not None:
        names = list(dict.fromkeys(body.work_queue_names))
        known = set(session.scalars(select(WorkQueueTable.name).where(WorkQueueTable.name.in_(names))))
        unknown = [name for name in names if name not in known]
        if unknown:
            raise ObjectNotFound(f"work queue {unknown[0]!r} not found")
        query = query.where(FlowRunTable.work_queue_name.in_(names))
    else:
        query = query.where(FlowRunTable.work_queue_name.is_not(None))
    query = query.order_by(FlowRunTable.expected_start_time, FlowRunTable.id).limit(body.limit)
    upcoming = []
    for run, flow_name, deployment_name in session.execute(query):
        item = UpcomingRun.model_validate(to_flow_run(run).model_dump())
        item.flow_name, item.deployment_name = flow_name, deployment_name
        upcoming.append(item)
    return model_response(upcoming)
