"""Block types, block schemas and block documents (saved, named blocks)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from pydantic import Field, StringConstraints

from sluice.schemas.base import Name, ObjectModel, Page, RequestModel

#: A block type slug: lowercase words joined by dashes.
Slug = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9_-]*$")]


class BlockTypeCreate(RequestModel):
    """Body of ``POST /api/block_types/``: registering a slug again updates its description."""

    slug: Slug
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    logo_url: str | None = Field(default=None, max_length=2000)
    documentation_url: str | None = Field(default=None, max_length=2000)


class BlockType(ObjectModel):
    """A block type as the API returns it."""

    slug: str
    name: str
    description: str | None = None
    logo_url: str | None = None
    documentation_url: str | None = None


class BlockSchemaCreate(RequestModel):
    """Body of ``POST /api/block_schemas/``: idempotent by checksum (computed when not given).

    This is ``Block.block_schema()`` plus the block type's slug.
    """

    block_type_slug: Slug
    fields: dict[str, Any] = Field(default_factory=dict, description="The JSON schema of the block's fields.")
    secret_fields: list[str] = Field(default_factory=list, max_length=200)
    capabilities: list[str] = Field(default_factory=list, max_length=200)
    checksum: str | None = Field(default=None, min_length=1, max_length=200)
    version: str | None = Field(default=None, max_length=100)


class BlockSchema(ObjectModel):
    """A block schema as the API returns it."""

    block_type_id: UUID
    block_type_slug: str | None = None
    fields: dict[str, Any] = Field(default_factory=dict)
    secret_fields: list[str] = Field(default_factory=list)
    capabilities: list[str] = Field(default_factory=list)
    checksum: str
    version: str | None = None


class BlockDocumentCreate(RequestModel):
    """Body of ``POST /api/block_documents/``: a named block of a registered type.

    ``block_schema_id`` defaults to the type's latest schema, whose ``secret_fields`` are encrypted.
    """

    name: Name
    block_type_slug: Slug
    block_schema_id: UUID | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class BlockDocumentUpdate(RequestModel):
    """Body of ``PATCH /api/block_documents/{id}``.

    ``merge_existing_data`` (default) keeps fields not given; a secret sent back masked keeps its
    stored value.
    """

    data: dict[str, Any] = Field(default_factory=dict)
    block_schema_id: UUID | None = None
    merge_existing_data: bool = True


class BlockDocument(ObjectModel):
    """A block document as the API returns it: secrets masked unless asked for."""

    name: str
    block_type_id: UUID
    block_type_slug: str
    block_schema_id: UUID | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    secret_fields: list[str] = Field(default_factory=list)


class BlockDocumentFilter(Page):
    """Body of ``POST /api/block_documents/filter``."""

    block_type_slugs: list[str] | None = Field(default=None, max_length=100)
    names: list[str] | None = Field(default=None, max_length=1000)
    include_secrets: bool = False


class BlockTypeFilter(Page):
    """Body of ``POST /api/block_types/filter``."""

    slugs: list[str] | None = Field(default=None, max_length=1000)


class BlockSchemaFilter(Page):
    """Body of ``POST /api/block_schemas/filter``."""

    block_type_slugs: list[str] | None = Field(default=None, max_length=1000)
