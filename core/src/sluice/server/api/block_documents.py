"""``/api/block_documents``: saved, named blocks, with secret fields encrypted at rest.

Secret fields (the ``secret_fields`` of the document's block schema: dotted paths such as
``image_registry.password`` for a secret inside a nested model) are kept out of the ``data`` column
and stored as one Fernet token; answers show them as ``********`` unless ``include_secrets=true``.
Sending ``********`` back in an update keeps the stored value.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from fastapi import APIRouter, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from sluice.errors import ConfigurationError, ObjectAlreadyExists, ObjectNotFound
from sluice.schemas.blocks import BlockDocument, BlockDocumentCreate, BlockDocumentFilter, BlockDocumentUpdate
from sluice.server.api.block_types import find_block_type
from sluice.server.api.common import get_or_404, paginate
from sluice.server.api.deps import ReadSessionDep, SecretBoxDep, SessionDep
from sluice.server.database.tables import (
    BlockDocumentTable,
    BlockSchemaTable,
    BlockTypeTable,
    DeploymentTable,
)
from sluice.server.database.types import utcnow
from sluice.server.encryption import SecretBox
from sluice.server.secret_paths import MASK, get_path, join_secrets, masked_paths, set_path, split_secrets

router = APIRouter(prefix="/block_documents", tags=["Blocks"])
#: Prefect 2's path for reading a document by type slug and name.
by_type_router = APIRouter(prefix="/block_types", tags=["Blocks"])


def _schema(session: Session, block_type: BlockTypeTable, schema_id: UUID | None) -> BlockSchemaTable | None:
    if schema_id is not None:
        schema = get_or_404(session, BlockSchemaTable, schema_id, "block schema")
        if schema.block_type_id != block_type.id:
            raise ConfigurationError(f"block schema {schema_id} is not a schema of block type {block_type.slug!r}")
        return schema
    query = (
        select(BlockSchemaTable)
        .where(BlockSchemaTable.block_type_id == block_type.id)
        .order_by(BlockSchemaTable.created.desc())
    )
    return session.scalars(query).first()


def _store(row: BlockDocumentTable, data: dict[str, Any], secret_fields: list[str], box: SecretBox) -> None:
    row.data, secrets = split_secrets(data, secret_fields)
    row.encrypted_secrets = box.encrypt(secrets)


def _secret_fields(session: Session, row: BlockDocumentTable) -> list[str]:
    if row.block_schema_id is None:
        return []
    return list(
        session.scalar(select(BlockSchemaTable.secret_fields).where(BlockSchemaTable.id == row.block_schema_id)) or []
    )


def to_block_document(
    row: BlockDocumentTable, slug: str, secret_fields: list[str], box: SecretBox, include_secrets: bool
) -> BlockDocument:
    """The API form of a document: secrets decrypted, or masked unless ``include_secrets``."""
    secrets = box.decrypt(row.encrypted_secrets) if row.encrypted_secrets else {}
    data = join_secrets(row.data, secrets, masked=not include_secrets)
    return BlockDocument(
        id=row.id,
        created=row.created,
        updated=row.updated,
        name=row.name,
        block_type_id=row.block_type_id,
        block_type_slug=slug,
        block_schema_id=row.block_schema_id,
        data=data,
        secret_fields=secret_fields,
    )


@router.post("/", response_model=BlockDocument, status_code=status.HTTP_201_CREATED)
def create_block_document(body: BlockDocumentCreate, session: SessionDep, box: SecretBoxDep) -> BlockDocument:
    """Save a block under a name; a name already used for the type is a 409."""
    block_type = find_block_type(session, body.block_type_slug)
    schema = _schema(session, block_type, body.block_schema_id)
    secret_fields = list(schema.secret_fields) if schema else []
    masked = masked_paths(body.data, secret_fields)
    if masked:
        raise ConfigurationError(f"secret field {masked[0]!r} holds the mask {MASK!r}, not a value")
    taken = select(BlockDocumentTable.id).where(
        BlockDocumentTable.block_type_id == block_type.id, BlockDocumentTable.name == body.name
    )
    if session.scalars(taken).first():
        raise ObjectAlreadyExists(f"block document {body.block_type_slug}/{body.name} already exists")
    now = utcnow()
    row = BlockDocumentTable(
        id=uuid4(),
        created=now,
        updated=now,
        name=body.name,
        block_type_id=block_type.id,
        block_schema_id=schema.id if schema else None,
    )
    _store(row, body.data, secret_fields, box)
    session.add(row)
    session.commit()
    return to_block_document(row, block_type.slug, secret_fields, box, include_secrets=False)


@router.get("/{block_document_id}", response_model=BlockDocument)
def read_block_document(
    block_document_id: UUID, session: ReadSessionDep, box: SecretBoxDep, include_secrets: bool = False
) -> BlockDocument:
    """Read a document by id; secrets masked unless ``include_secrets=true``."""
    row = get_or_404(session, BlockDocumentTable, block_document_id, "block document")
    slug = session.scalar(select(BlockTypeTable.slug).where(BlockTypeTable.id == row.block_type_id)) or ""
    return to_block_document(row, slug, _secret_fields(session, row), box, include_secrets)


def _read_by_name(session: Session, box: SecretBox, slug: str, name: str, include_secrets: bool) -> BlockDocument:
    query = (
        select(BlockDocumentTable)
        .join(BlockTypeTable, BlockTypeTable.id == BlockDocumentTable.block_type_id)
        .where(BlockTypeTable.slug == slug, BlockDocumentTable.name == name)
    )
    row = session.scalars(query).first()
    if row is None:
        raise ObjectNotFound(f"block document {slug}/{name} not found")
    return to_block_document(row, slug, _secret_fields(session, row), box, include_secrets)


@router.get("/name/{block_type_slug}/{name}", response_model=BlockDocument)
def read_block_document_by_name(
    block_type_slug: str, name: str, session: ReadSessionDep, box: SecretBoxDep, include_secrets: bool = False
) -> BlockDocument:
    """Read a document by block type slug and name (``s3/dev-bucket``)."""
    return _read_by_name(session, box, block_type_slug, name, include_secrets)


@by_type_router.get("/slug/{block_type_slug}/block_documents/name/{name}", response_model=BlockDocument)
def read_block_document_by_type_slug_and_name(
    block_type_slug: str, name: str, session: ReadSessionDep, box: SecretBoxDep, include_secrets: bool = False
) -> BlockDocument:
    """Read a document by block type slug and name (Prefect 2's path)."""
    return _read_by_name(session, box, block_type_slug, name, include_secrets)


@router.patch("/{block_document_id}", response_model=BlockDocument)
def update_block_document(
    block_document_id: UUID, body: BlockDocumentUpdate, session: SessionDep, box: SecretBoxDep
) -> BlockDocument:
    """Change a document's data (merged into the stored data unless ``merge_existing_data`` is false)."""
    row = get_or_404(session, BlockDocumentTable, block_document_id, "block document")
    block_type = get_or_404(session, BlockTypeTable, row.block_type_id, "block type")
    schema = _schema(session, block_type, body.block_schema_id or row.block_schema_id)
    secret_fields = list(schema.secret_fields) if schema else []
    stored = join_secrets(row.data, box.decrypt(row.encrypted_secrets), masked=False)
    data = {**stored, **body.data} if body.merge_existing_data else dict(body.data)
    for path in masked_paths(data, secret_fields):
        kept = get_path(stored, path)
        if kept is None:
            raise ConfigurationError(f"secret field {path!r} holds the mask {MASK!r} and has no stored value")
        set_path(data, path, kept)
    row.block_schema_id = schema.id if schema else None
    _store(row, data, secret_fields, box)
    row.updated = utcnow()
    session.commit()
    return to_block_document(row, block_type.slug, secret_fields, box, include_secrets=False)


@router.post("/filter", response_model=list[BlockDocument])
def filter_block_documents(
    session: ReadSessionDep, box: SecretBoxDep, body: BlockDocumentFilter | None = None
) -> list[BlockDocument]:
    """List documents by type slug and name; secrets masked unless ``include_secrets``."""
    body = body or BlockDocumentFilter()
    query = (
        select(BlockDocumentTable, BlockTypeTable.slug, BlockSchemaTable.secret_fields)
        .join(BlockTypeTable, BlockTypeTable.id == BlockDocumentTable.block_type_id)
        .outerjoin(BlockSchemaTable, BlockSchemaTable.id == BlockDocumentTable.block_schema_id)
    )
    if body.block_type_slugs is not None:
        query = query.where(BlockTypeTable.slug.in_(body.block_type_slugs))
    if body.names is not None:
        query = query.where(BlockDocumentTable.name.in_(body.names))
    query = query.order_by(BlockTypeTable.slug, BlockDocumentTable.name)
    return [
        to_block_document(row, slug, list(secret_fields or []), box, body.include_secrets)
        for row, slug, secret_fields in session.execute(paginate(query, body))
    ]


@router.delete("/{block_document_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_block_document(block_document_id: UUID, session: SessionDep) -> None:
    """Delete a document; one a deployment uses is a 409 naming the deployment."""
    row = get_or_404(session, BlockDocumentTable, block_document_id, "block document")
    user = session.scalars(
        select(DeploymentTable.name).where(
            (DeploymentTable.storage_document_id == row.id) | (DeploymentTable.infrastructure_document_id == row.id)
        )
    ).first()
    if user is not None:
        raise ObjectAlreadyExists(f"block document {row.name!r} is used by deployment {user!r}: change it first")
    session.delete(row)
    session.commit()
