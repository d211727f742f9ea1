"""``/api/logs``: ship a batch of records, read a run's records in order."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status
from sqlalchemy import select
from sqlalchemy.orm import Session

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

    At most ``MAX_LOG_BATCH`` records (a 413 otherwise); over-long messages are stored cut. A record
    whose ``client_id`` is already stored is skipped: ``created`` counts the new ones.
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
    rows = _not_stored_yet(session, [record.model_dump() for record in records])
    if rows:
        now = utcnow()
        session.execute(_insert_skipping_known_ids(session), [{**row, "created": now} for row in rows])
    session.commit()
    return {"created": len(rows)}


def _not_stored_yet(session: Session, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` less those whose ``client_id`` is stored already or came earlier in the batch."""
    ids = {row["client_id"] for row in rows if row["client_id"] is not None}
    if not ids:
        return rows
    seen = set(session.scalars(select(LogTable.client_id).where(LogTable.client_id.in_(ids))))
    fresh = []
    for row in rows:
        if row["client_id"] is not None:
            if row["client_id"] in seen:
                continue
            seen.add(row["client_id"])
        fresh.append(row)
    return fresh


def _insert_skipping_known_ids(session: Session) -> Any:
    """An INSERT that skips a record whose ``client_id`` another request stored a moment ago."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(LogTable.__table__).on_conflict_do_nothing(index_elements=["client_id"])


@router.post("/filter", response_model=list[Log])
def filter_logs(session: ReadSessionDep, body: LogFilter | None = None) -> Response:
    """Records ordered by timestamp (then arrival), optionally for some flow runs or task runs and from a level up."""
    body = body or LogFilter()
    query = select(LogTable)
    if body.flow_run_ids is not None:
        query = query.where(LogTable.flow_run_id.in_(body.flow_run_ids))
    if body.task_run_ids is not None:
        query = query.where(LogTable.task_run_id.in_(body.task_run_ids))
    if body.level_ge is not None:
        query = query.where(LogTable.level >= body.level_ge)
    if body.descending:
        query = query.order_by(LogTable.timestamp.desc(), LogTable.id.desc())
    else:
        query = query.order_by(LogTable.timestamp.asc(), LogTable.id.asc())
    return model_response([Log.model_validate(row) for row in session.scalars(paginate(query, body))])
