"""``sluice block``: list block types, and create, list, inspect and delete saved blocks.

Secret fields never go through ``--set`` (they would land in the shell history): they are read from
an environment variable (``--set-env field=VAR``) or a hidden prompt (``--prompt field``), and shown
masked by ``inspect``. A field that takes another block also takes a saved one by name:
``--set image_registry=docker-registry/prod``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer

app = typer.Typer(
    help="Create and manage blocks: saved storage, infrastructure and supporting settings (registry logins…).",
    no_args_is_help=True,
)
type_app = typer.Typer(help="Block types provided by the installed plugins.", no_args_is_help=True)
app.add_typer(type_app, name="type")

#: Storage, infrastructure, then supporting types (a registry login, a kubeconfig) that those use.
KINDS = ("storage", "infrastructure", "supporting")


@contextmanager
def _errors() -> Iterator[None]:
    from sluice.cli.errors import fail
    from sluice.errors import SluiceError

    try:
        yield
    except SluiceError as exc:
        raise fail(str(exc)) from None


def _document(client: Any, slug: str) -> Any:
    from sluice.blocks import parse_block_slug
    from sluice.errors import ConfigurationError, ObjectNotFound

    block_type, name, path = parse_block_slug(slug)
    if path:
        raise ConfigurationError(f"{slug!r}: name a block as 'type/name', without a sub-path")
    try:
        return client.read_block_document_by_name(block_type, name)
    except ObjectNotFound:
        raise ObjectNotFound(f"block {block_type}/{name} not found; see `sluice block ls`") from None


def _masked(data: dict[str, Any]) -> dict[str, Any]:
    """The server masks secret fields; also mask secret-looking keys inside dict fields."""
    from sluice.storage import mask_settings

    return {name: mask_settings(value) if isinstance(value, dict) else value for name, value in data.items()}


def _describe(document: Any) -> dict[str, Any]:
    return {
        "slug": f"{document.block_type_slug}/{document.name}",
        "id": str(document.id),
        "block_type": document.block_type_slug,
        "name": document.name,
        "created": document.created.isoformat() if document.created else None,
        "updated": document.updated.isoformat() if document.updated else None,
        "data": _masked(document.data),
        "secret_fields": list(document.secret_fields),
    }


@type_app.command("ls")
def list_types(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """List the block types of the installed plugins: slug, kind (storage, infrastructure or supporting),
    package, secret fields."""
    from sluice.plugins import get_registry

    rows = []
    for kind in KINDS:
        for entry in get_registry(kind).entries():
            rows.append(
                {
                    "slug": entry.slug,
                    "name": entry.cls.display_name(),
                    "kind": kind,
                    "distribution": entry.distribution,
                    "secret_fields": entry.cls.secret_fields(),
                    "description": entry.cls.description(),
                }
            )
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("slug", "name", "kind", "package", "secret fields")
    for row in rows:
        table.add_row(row["slug"], row["name"], row["kind"], row["distribution"], ", ".join(row["secret_fields"]))
    Console().print(table)


@app.command("ls")
def list_blocks(
    block_type: str | None = typer.Option(None, "--type", "-t", help="Only blocks of this type slug."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List saved blocks as 'type/name'."""
    from sluice.client import get_client

    with _errors(), get_client() as client:
        documents = client.filter_block_documents(block_type_slugs=[block_type] if block_type else None)
    described = [_describe(document) for document in documents]
    if as_json:
        typer.echo(json.dumps(described, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("block", "id", "updated")
    for row in described:
        table.add_row(row["slug"], row["id"], row["updated"] or "")
    Console().print(table)


@app.command("create")
def create(
    block_type: str = typer.Argument(..., help="The block type slug (see `sluice block type ls`)."),
    name: str = typer.Argument(..., help="The name to save it under."),
    values: list[str] = typer.Option([], "--set", help="field=value (dots reach into dicts: settings.region=x)."),
    from_env: list[str] = typer.Option([], "--set-env", help="field=ENVVAR: read the value from an env variable."),
    prompts: list[str] = typer.Option([], "--prompt", help="A field to ask for with a hidden prompt."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a block of the same type and name."),
) -> None:
    """Create (or with --overwrite replace) a saved block from field values."""
    from sluice.blocks import get_block_class, with_path_set
    from sluice.client import get_client

    with _errors():
        cls = get_block_class(block_type)
        data: dict[str, Any] = {}
        for item in values:
            path, value = _split_assignment(item, "--set")
            decoded = _decode(value)
            if not _is_block_reference(cls, path, decoded):  # 'docker-registry/prod' holds no secret itself
                _refuse_secret_on_command_line(cls, path)
            data = with_path_set(data, path.split("."), decoded)
        for item in from_env:
            path, variable = _split_assignment(item, "--set-env")
            data = with_path_set(data, path.split("."), _from_environment(path, variable))
        for path in prompts:
            data = with_path_set(data, path.split("."), typer.prompt(path, hide_input=True))
        block = cls.from_data(data)
        with get_client() as client:
            document = client.save_block(block, name, overwrite=overwrite)
    typer.echo(f"Saved block {block_type}/{name} ({document.id}).")


@app.command("inspect")
def inspect(
    slug: str = typer.Argument(..., help="The block as 'type/name'."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show a saved block's fields, secrets masked."""
    from sluice.client import get_client

    with _errors(), get_client() as client:
        described = _describe(_document(client, slug))
    if as_json:
        typer.echo(json.dumps(described, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("field", "value", title=f"{described['slug']} ({described['id']})")
    for field, value in described["data"].items():
        table.add_row(field, value if isinstance(value, str) else json.dumps(value))
    Console().print(table)


@app.command("delete")
def delete(slug: str = typer.Argument(..., help="The block as 'type/name'.")) -> None:
    """Delete a saved block (refused while a deployment uses it)."""
    from sluice.client import get_client

    with _errors(), get_client() as client:
        document = _document(client, slug)
        client.delete_block_document(document.id)
    typer.echo(f"Deleted block {document.block_type_slug}/{document.name}.")


def _split_assignment(item: str, option: str) -> tuple[str, str]:
    from sluice.errors import ConfigurationError

    path, separator, value = item.partition("=")
    if not separator or not path.strip():
        raise ConfigurationError(f"{option} {item!r}: use {option} field=value")
    return path.strip(), value


def _decode(value: str) -> Any:
    """JSON for values that look like objects or lists (``settings={...}``); the text otherwise."""
    if value.lstrip().startswith(("{", "[")):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _is_block_reference(cls: type[Any], path: str, value: Any) -> bool:
    """True when ``path`` is a field taking a saved block and ``value`` names one (``docker-registry/prod``)."""
    from sluice.blocks import block_reference_fields

    return isinstance(value, str) and path in block_reference_fields(cls)


def _refuse_secret_on_command_line(cls: type[Any], path: str) -> None:
    from sluice.blocks import looks_secret
    from sluice.errors import ConfigurationError

    for secret in cls.secret_fields():
        holds_secret = path == secret or secret.startswith(f"{path}.")  # the secret, or an object holding it
        inside = path.startswith(f"{secret}.") and any(
            looks_secret(part) for part in path[len(secret) + 1 :].split(".")
        )
        if holds_secret or inside:
            what = path if not holds_secret or path == secret else secret
            raise ConfigurationError(
                f"{what} is secret: pass it with --set-env {what}=ENVVAR or --prompt {what}, "
                "not --set (the command line is visible to others and kept in your shell history)"
            )


def _from_environment(path: str, variable: str) -> str:
    from sluice.errors import ConfigurationError

    value = os.environ.get(variable)
    if value is None:
        raise ConfigurationError(f"--set-env {path}={variable}: the environment variable {variable} is not set")
    return value
