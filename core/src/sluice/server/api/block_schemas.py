"""``/api/block_schemas``: register (idempotent by type and checksum), read, read by checksum, filter."""

from __future__ import annotations

import hashlib
import json
from typing import Any
from uuid import UUID, uuid4

from fastapi import APIRouter, Response, status
from sqlalchemy import select

from sluice.errors import ObjectNotFound
from sluice.schemas.blocks import BlockSchema, BlockSchemaCreate, BlockSchemaFilter
from sluice.server.api.block_types import find_block_type
from sluice.server.api.common import get_or_404, paginate
from sluice.server.api.deps import ReadSessionDep, SessionDep
from sluice.server.api.responses import already_there
from sluice.server.database.tables import BlockSchemaTable, BlockTypeTable
from sluice.server.database.types import utcnow

router = APIRouter(prefix="/block_schemas", tags=["Blocks"])


def schema_checksum(fields: dict[str, Any], secret_fields: list[str], capabilities: list[str]) -> str:
    """The checksum ``Block.block_schema()`` computes, for bodies that carry none."""
    body = {"fields": fields, "secret_fields": secret_fields, "capabilities": capabilities}
    return "sha256:" + hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def to_block_schema(row: BlockSchemaTable, slug: str | None) -> BlockSchema:
    """The API form of a block-schema row."""
    schema = BlockSchema.model_validate(row, from_attributes=True)
    schema.block_type_slug = slug
    return schema


@router.post("/", response_model=BlockSchema, status_code=status.HTTP_201_CREATED, responses=already_there(BlockSchema))
def create_block_schema(body: BlockSchemaCreate, session: SessionDep, response: Response) -> BlockSchema:
    """Register a schema of a block type; the same checksum again returns the stored one (200)."""
    block_type = find_block_type(session, body.block_type_slug)
    checksum = body.checksum or schema_checksum(body.fields, body.secret_fields, body.capabilities)
    query = select(BlockSchemaTable).where(
        BlockSchemaTable.block_type_id == block_type.id, BlockSchemaTable.checksum == checksum
    )
    existing = session.scalars(query).first()
    if existing is not None:
        response.status_code = status.HTTP_200_OK
        return to_block_schema(existing, block_type.slug)
    now = utcnow()
    values = body.model_dump(exclude={"block_type_slug", "checksum"})
    row = BlockSchemaTable(
        id=uuid4(), created=now, updated=now, block_type_id=block_type.id, checksum=checksum, **values
    )
    session.add(row)
    session.commit()
    return to_block_schema(row, block_type.slug)


@router.get("/{block_schema_id}", response_model=BlockSchema)
def read_block_schema(block_schema_id: UUID, session: ReadSessionDep) -> BlockSchema:
    """Read a block schema by id."""
    row = get_or_404(session, BlockSchemaTable, block_schema_id, "block schema")
    return to_block_schema(
        row, session.scalar(select(BlockTypeTable.slug).where(BlockTypeTable.id == row.block_type_id))
    )


@router.get("/checksum/{checksum}", response_model=BlockSchema)
def read_block_schema_by_checksum(checksum: str, session: ReadSessionDep) -> BlockSchema:
    """Read the newest block schema with this checksum."""
    query = (
        select(BlockSchemaTable, BlockTypeTable.slug)
        .join(BlockTypeTable, BlockTypeTable.id == BlockSchemaTable.block_type_id)
        .where(BlockSchemaTable.checksum == checksum)
        .order_by(BlockSchemaTable.created.desc())
    )
    found = session.execute(query).first()
    if found is None:
        raise ObjectNotFound(f"block schema with checksum {checksum!r} not found")
    return to_block_schema(found[0], found[1])


@router.post("/filter", response_model=list[BlockSchema])
def filter_block_schemas(session: ReadSessionDep, body: BlockSchemaFilter | None = None) -> list[BlockSchema]:
    """List block schemas, newest first, optionally of some block types."""
    body = body or BlockSchemaFilter()
    query = select(BlockSchemaTable, BlockTypeTable.slug).join(
        BlockTypeTable, BlockTypeTable.id == BlockSchemaTable.block_type_id
    )
    if body.block_type_slugs is not None:
        query = query.where(BlockTypeTable.slug.in_(body.block_type_slugs))
    query = query.order_by(BlockSchemaTable.created.desc(), BlockSchemaTable.id)
    return [to_block_schema(row, slug) for row, slug in session.execute(paginate(query, body))]


@router.delete("/{block_schema_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_block_schema(block_schema_id: UUID, session: SessionDep) -> None:
    """Delete a block schema (its documents keep their data)."""
    session.delete(get_or_404(session, BlockSchemaTable, block_schema_id, "block schema"))
    session.commit()
