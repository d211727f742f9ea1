"""``/api/block_types``: register (idempotent by slug), read, read by slug, filter, delete."""

from __future__ import annotations

from uuid import UUID, uuid4

from fastapi import APIRouter, Response, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from sluice.errors import ObjectNotFound
from sluice.schemas.blocks import BlockType, BlockTypeCreate, BlockTypeFilter
from sluice.server.api.common import get_or_404, paginate
from sluice.server.api.deps import ReadSessionDep, SessionDep
from sluice.server.api.responses import already_there
from sluice.server.database.tables import BlockTypeTable
from sluice.server.database.types import utcnow

router = APIRouter(prefix="/block_types", tags=["Blocks"])


def find_block_type(session: Session, slug: str) -> BlockTypeTable:
    """The block type with ``slug``; ``ObjectNotFound`` says to register it first."""
    found = session.scalars(select(BlockTypeTable).where(BlockTypeTable.slug == slug)).first()
    if found is None:
        raise ObjectNotFound(f"block type {slug!r} not found: register it first (POST /api/block_types/)")
    return found


@router.post("/", response_model=BlockType, status_code=status.HTTP_201_CREATED, responses=already_there(BlockType))
def create_block_type(body: BlockTypeCreate, session: SessionDep, response: Response) -> BlockTypeTable:
    """Register a block type; a slug already registered is updated in place (200)."""
    existing = session.scalars(select(BlockTypeTable).where(BlockTypeTable.slug == body.slug)).first()
    now = utcnow()
    if existing is None:
        block_type = BlockTypeTable(id=uuid4(), created=now, updated=now, **body.model_dump())
        session.add(block_type)
    else:
        block_type = existing
        changed = {k: v for k, v in body.model_dump().items() if getattr(existing, k) != v}
        for field, value in changed.items():
            setattr(existing, field, value)
        if changed:
            existing.updated = now
        response.status_code = status.HTTP_200_OK
    session.commit()
    return block_type


@router.get("/{block_type_id}", response_model=BlockType)
def read_block_type(block_type_id: UUID, session: ReadSessionDep) -> BlockTypeTable:
    """Read a block type by id."""
    return get_or_404(session, BlockTypeTable, block_type_id, "block type")


@router.get("/slug/{slug}", response_model=BlockType)
def read_block_type_by_slug(slug: str, session: ReadSessionDep) -> BlockTypeTable:
    """Read a block type by slug."""
    return find_block_type(session, slug)


@router.post("/filter", response_model=list[BlockType])
def filter_block_types(session: ReadSessionDep, body: BlockTypeFilter | None = None) -> list[BlockTypeTable]:
    """List block types by slug."""
    body = body or BlockTypeFilter()
    query = select(BlockTypeTable)
    if body.slugs is not None:
        query = query.where(BlockTypeTable.slug.in_(body.slugs))
    return list(session.scalars(paginate(query.order_by(BlockTypeTable.slug), body)))


@router.delete("/{block_type_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_block_type(block_type_id: UUID, session: SessionDep) -> None:
    """Delete a block type with its schemas and documents (409 while a deployment uses one)."""
    session.delete(get_or_404(session, BlockTypeTable, block_type_id, "block type"))
    session.commit()
