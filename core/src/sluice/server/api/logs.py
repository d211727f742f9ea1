"""``/api/logs``: ship a batch of records, read a run's records in order."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from sqlalchemy import select

from sluice.errors import ObjectNotFound, PayloadTooLarge
from sluice.schemas.logs import MAX_LOG_BATCH, Log, LogCreate, LogFilter
from sluice.server.api.common import paginate
from sluice.server.api.deps import ReadSessionDep, SessionDep
from sluice.server.api.responses import model_response
from sluice.server.database.tables import FlowRunTable, LogTable
from sluice.server.database.types import utcnow

router = APIRouter(prefix="/logs", tags=["Logs"])


@router.post("/", status_code=status.HTTP_201_CREATED)
def create_logs(records: list[LogCreate], session: SessionDep) -> dict[str, int]:
    """Store a batch of log records; every flow run they name must exist (404 otherwise).

    At most ``MAX_LOG_BATCH`` records (a 413 otherwise); over-long messages are stored cut.
    """
    if len(records) > MAX_LOG_BATCH:
        raise PayloadTooLarge(
            f"at most {MAX_LOG_BATCH} log records per request, got {len(records)}: send them in several requests"
        )
    run_ids = {record.flow_run_id for record in records}
    if run_ids:
        found = set(session.scalars(select(FlowRunTable.id).where(FlowRunTable.id.in_(run_ids))))
        missing = run_ids - found
        if missing:
            raise ObjectNotFound(f"flow run {sorted(map(str, missing))[0]} not found (logs not stored)")
    now = utcnow()
    session.add_all(LogTable(**record.model_dump(), created=now) for record in records)
    session.commit()
    return {"created": len(records)}


@router.post("/filter", response_model=list[Log])
def filter_logs(session: ReadSessionDep, body: LogFilter | None = None) -> Response:
    """Records ordered by timestamp (then arrival), optionally for some runs and from a level up."""
    body = body or LogFilter()
    query = select(LogTable)
    if body.flow_run_ids is not None:
        query = query.where(LogTable.flow_run_id.in_(body.flow_run_ids))
    if body.level_ge is not None:
        query = query.where(LogTable.level >= body.level_ge)
    if body.descending:
        query = query.order_by(LogTable.timestamp.desc(), LogTable.id.desc())
    else:
        query = query.order_by(LogTable.timestamp.asc(), LogTable.id.asc())
    return model_response([Log.model_validate(row) for row in session.scalars(paginate(query, body))])
