"""``/blocks``: block documents by type; create and edit them from the block schema's form.

Secret fields are password inputs that are never filled in: the page only ever holds the API's
masked answer, and a secret left empty when editing is not sent, so it keeps its stored value.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sluice.schemas import BlockSchema
from sluice_ui.api import ApiError, UiApi, get_api
from sluice_ui.forms import BLOCK_PREFIX, parse_schema_form, schema_fields
from sluice_ui.pages.common import error_page
from sluice_ui.session import CsrfDep, SessionDep
from sluice_ui.templating import redirect, render

router = APIRouter(include_in_schema=False)


def installed_block_classes() -> dict[str, type[Any]]:
    """Block classes of the installed plugins by slug (storage, infrastructure and supporting)."""
    from sluice.infrastructure import infrastructure_block_types, supporting_block_types
    from sluice.storage import storage_block_types

    classes: dict[str, type[Any]] = {}
    for kind_types in (storage_block_types, infrastructure_block_types, supporting_block_types):
        try:
            classes.update(kind_types())
        except Exception:  # a broken plugin must not take the page down; `sluice plugins ls` says why
            continue
    return classes


async def block_schema(api: UiApi, slug: str, register: bool) -> tuple[list[str], dict[str, Any], str | None] | None:
    """``(secret fields, JSON schema of the fields, stored schema id)`` of a block type, or None.

    A type the server does not know yet but an installed plugin provides is described from its
    class; with ``register`` it is registered on the server first (what ``Block.save`` does too).
    """
    schema = await api.block_schema_for(slug)
    if schema is not None:
        return schema.secret_fields, schema.fields, str(schema.id)
    cls = installed_block_classes().get(slug)
    if cls is None:
        return None
    described = cls.block_schema()
    if not register:
        return list(described["secret_fields"]), dict(described["fields"]), None
    await api.call(
        "POST",
        "/block_types/",
        json={"slug": slug, "name": cls.display_name(), "description": cls.description() or None},
    )
    stored = BlockSchema.model_validate(
        await api.call("POST", "/block_schemas/", json={"block_type_slug": slug, **described})
    )
    return stored.secret_fields, stored.fields, str(stored.id)


@router.get("/blocks")
async def blocks_page(request: Request, session: SessionDep) -> Response:
    """Documents grouped by type, and every type one can be created for."""
    api = get_api(request)
    documents = await api.block_documents(limit=1000)
    registered = {block_type.slug: block_type.name for block_type in await api.block_types()}
    installed = {slug: cls.display_name() for slug, cls in installed_block_classes().items()}
    types = {**installed, **registered}
    groups: dict[str, list[Any]] = {}
    for document in documents:
        groups.setdefault(document.block_type_slug, []).append(document)
    context = {"groups": sorted(groups.items()), "types": sorted(types.items()), "type_names": types}
    return render(request, "blocks.html", context)


@router.get("/blocks/new")
async def new_block_form(request: Request, session: SessionDep, type: str = "") -> Response:
    """The create form of a block type, generated from its schema."""
    api = get_api(request)
    found = await block_schema(api, type, register=False)
    if found is None:
        return error_page(request, ApiError(404, f"block type {type!r} is neither registered nor installed"))
    secret_fields, field_schema, _ = found
    fields = schema_fields(field_schema, {}, BLOCK_PREFIX, secret_fields)
    context = {"slug": type, "name": "", "fields": fields, "errors": {}, "form_error": None, "document": None}
    return render(request, "block_form.html", context)


@router.post("/blocks/new")
async def create_block(request: Request, session: CsrfDep, type: str = "") -> Response:
    """Save a new document, or show the form again with the problems (422)."""
    api = get_api(request)
    form = await request.form()
    slug = str(form.get("block_type_slug") or type)
    try:
        found = await block_schema(api, slug, register=True)
    except ApiError as exc:
        return error_page(request, exc)
    if found is None:
        return error_page(request, ApiError(404, f"block type {slug!r} is neither registered nor installed"))
    secret_fields, field_schema, schema_id = found
    data, fields, errors = parse_schema_form(field_schema, form, BLOCK_PREFIX, secret_fields)
    name = str(form.get("name") or "").strip()
    if not name:
        errors["name"] = "is required"
    context = {"slug": slug, "name": name, "fields": fields, "errors": errors, "document": None}
    context["form_error"] = errors.get("")
    if not errors:
        body = {"name": name, "block_type_slug": slug, "block_schema_id": schema_id, "data": data}
        try:
            document = await api.create_block_document(body)
        except ApiError as exc:
            context["form_error"] = exc.detail
        else:
            return redirect(request, f"/blocks/{document.id}", flash=f"Block {slug}/{name} saved.")
    return render(request, "block_form.html", context, status_code=422)


async def _document_schema(api: UiApi, document: Any) -> BlockSchema | None:
    if document.block_schema_id is not None:
        try:
            return await api.block_schema(str(document.block_schema_id))
        except ApiError:
            pass
    return await api.block_schema_for(document.block_type_slug)


@router.get("/blocks/{block_document_id}")
async def block_page(request: Request, block_document_id: str, session: SessionDep) -> Response:
    """A document's fields (secrets masked) in its edit form."""
    api = get_api(request)
    try:
        document = await api.block_document(block_document_id)
    except ApiError as exc:
        return error_page(request, exc)
    schema = await _document_schema(api, document)
    secrets = document.secret_fields
    values = {key: value for key, value in document.data.items() if key not in secrets}
    stored = [name for name in secrets if name in document.data]
    fields = schema_fields(schema.fields if schema else {}, values, BLOCK_PREFIX, secrets, stored=stored)
    context = {
        "slug": document.block_type_slug,
        "name": document.name,
        "fields": fields,
        "errors": {},
        "form_error": None,
        "document": document,
    }
    return render(request, "block_form.html", context)


@router.post("/blocks/{block_document_id}")
async def update_block(request: Request, block_document_id: str, session: CsrfDep) -> Response:
    """Save the changed fields; a secret left empty is not sent, so it keeps its stored value."""
    api = get_api(request)
    try:
        document = await api.block_document(block_document_id)
    except ApiError as exc:
        return error_page(request, exc)
    schema = await _document_schema(api, document)
    stored = [name for name in document.secret_fields if name in document.data]
    form = await request.form()
    data, fields, errors = parse_schema_form(
        schema.fields if schema else {}, form, BLOCK_PREFIX, document.secret_fields, stored=stored
    )
    context = {
        "slug": document.block_type_slug,
        "name": document.name,
        "fields": fields,
        "errors": errors,
        "form_error": errors.get(""),
        "document": document,
    }
    if not errors:
        # Fields emptied in the form are removed; untouched secrets are simply not sent.
        cleared = {item.name: None for item in fields if item.name not in data and item.kind != "secret"}
        body = {"data": {**cleared, **data}, "merge_existing_data": True}
        try:
            await api.update_block_document(block_document_id, body)
        except ApiError as exc:
            context["form_error"] = exc.detail
        else:
            return redirect(request, f"/blocks/{block_document_id}", flash="Block saved.")
    return render(request, "block_form.html", context, status_code=422)
