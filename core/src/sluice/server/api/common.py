"""Query helpers shared by the routers: lookups that 404, paging, tag filters, insert-if-missing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar
from uuid import UUID, uuid4

from sqlalchemy import ColumnElement, Select, and_, func, literal, or_, select, type_coerce
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlmodel import SQLModel

from sluice.errors import ObjectNotFound
from sluice.schemas.base import Page
from sluice.server.database.tables import FlowTable, WorkQueueTable
from sluice.server.database.types import utcnow

T = TypeVar("T", bound=SQLModel)


def get_or_404(session: Session, table: type[T], object_id: UUID, what: str) -> T:
    """The row with ``object_id``, or ``ObjectNotFound`` ("flow run 1234… not found")."""
    row = session.get(table, object_id)
    if row is None:
        raise ObjectNotFound(f"{what} {object_id} not found")
    return row


def paginate(query: Select[Any], page: Page) -> Select[Any]:
    """Apply the page's limit and offset."""
    return query.limit(page.limit).offset(page.offset)


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def json_list_has_any(session: Session, column: Any, values: Sequence[str]) -> ColumnElement[bool]:
    """True where the JSON list ``column`` holds at least one of ``values``."""
    if _dialect(session) == "postgresql":
        return or_(*(type_coerce(column, postgresql.JSONB).contains([value]) for value in values))
    items = func.json_each(column).table_valued("value")
    return select(literal(1)).select_from(items).where(items.c.value.in_(list(values))).exists()


def json_list_has_all(session: Session, column: Any, values: Sequence[str]) -> ColumnElement[bool]:
    """True where the JSON list ``column`` holds every one of ``values``."""
    if _dialect(session) == "postgresql":
        return type_coerce(column, postgresql.JSONB).contains(list(values))
    return and_(*(json_list_has_any(session, column, [value]) for value in values))


def insert_if_missing(session: Session, table: type[SQLModel], values: dict[str, Any], key: str) -> None:
    """Insert a row unless one with the same unique ``key`` exists (race-free on both databases)."""
    dialect_insert = postgresql.insert if _dialect(session) == "postgresql" else sqlite.insert
    statement = dialect_insert(table).values(**values).on_conflict_do_nothing(index_elements=[key])
    session.execute(statement)


def ensure_flow(session: Session, name: str) -> FlowTable:
    """The flow called ``name``, created on first use."""
    now = utcnow()
    insert_if_missing(
        session,
        FlowTable,
        {"id": uuid4(), "name": name, "tags": [], "created": now, "updated": now},
        "name",
    )
    return session.scalars(select(FlowTable).where(FlowTable.name == name)).one()


def ensure_work_queue(session: Session, name: str | None) -> None:
    """Create the work queue ``name`` on first use (no-op for None)."""
    if not name:
        return
    now = utcnow()
    values = {
        "id": uuid4(),
        "name": name,
        "is_paused": False,
        "priority": 1,
        "created": now,
        "updated": now,
    }
    insert_if_missing(session, WorkQueueTable, values, "name")
