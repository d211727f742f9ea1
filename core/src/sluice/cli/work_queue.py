"""``sluice work-queue``: create, list, inspect, pause, resume, limit and delete work queues."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer

from sluice.cli import work_queue_preview

app = typer.Typer(help="Create and manage the work queues agents claim runs from.", no_args_is_help=True)


@contextmanager
def _errors() -> Iterator[None]:
    from sluice.cli.errors import fail
    from sluice.errors import SluiceError

    try:
        yield
    except SluiceError as exc:
        raise fail(str(exc)) from None


def _queue(client: Any, name: str) -> Any:
    from sluice.errors import ObjectNotFound

    try:
        return client.read_work_queue_by_name(name)
    except ObjectNotFound:
        raise ObjectNotFound(f"work queue {name!r} not found; see `sluice work-queue ls`") from None


def _describe(queue: Any) -> dict[str, Any]:
    return queue.model_dump(mode="json")


@app.command("create")
def create(
    name: str = typer.Argument(..., help="The queue's name."),
    limit: int | None = typer.Option(None, "-l", "--limit", min=0, help="Most runs PENDING or RUNNING at once."),
    tags: list[str] = typer.Option([], "-t", "--tag", help="Legacy: hand out runs of deployments with these tags."),
    description: str | None = typer.Option(None, "-d", "--description", help="What the queue is for."),
) -> None:
    """Create a work queue (deployments naming a queue also create it on first use)."""
    from sluice.client import get_client

    with _errors(), get_client() as client:
        queue = client.create_work_queue(
            name, concurrency_limit=limit, filter=list(tags) or None, description=description
        )
    typer.echo(f"Created work queue {queue.name!r} ({queue.id}).")


@app.command("ls")
def list_queues(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """List work queues: name, paused, concurrency limit, legacy tag filter, last polled."""
    from sluice.client import get_client

    with _errors(), get_client() as client:
        queues = client.filter_work_queues(limit=1000)
    if as_json:
        typer.echo(json.dumps([_describe(queue) for queue in queues], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("name", "id", "paused", "limit", "tags (legacy)", "last polled")
    for queue in queues:
        polled = queue.last_polled.astimezone().strftime("%Y-%m-%d %H:%M:%S") if queue.last_polled else "never"
        limit = "-" if queue.concurrency_limit is None else str(queue.concurrency_limit)
        table.add_row(
            queue.name, str(queue.id), "yes" if queue.is_paused else "no", limit, ",".join(queue.filter or []), polled
        )
    Console().print(table)


@app.command("inspect")
def inspect(
    name: str = typer.Argument(..., help="The queue's name."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show every property of a work queue and how many of its runs are scheduled, pending and running."""
    from sluice.client import get_client

    with _errors(), get_client() as client:
        queue = _queue(client, name)
        data = _describe(queue)
        counts = {}
        for state in ("SCHEDULED", "PENDING", "RUNNING"):
            counts[state] = len(client.filter_flow_runs(work_queue_names=[name], state_types=[state], limit=1000))
        data["runs"] = counts
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    width = max(len(key) for key in data)
    for key, value in data.items():
        typer.echo(f"{key:<{width}}  {json.dumps(value) if isinstance(value, dict | list) else value}")


def _update(name: str, done: str, **fields: Any) -> None:
    from sluice.client import get_client

    with _errors(), get_client() as client:
        queue = client.update_work_queue(_queue(client, name).id, **fields)
    typer.echo(done.format(name=queue.name, limit=queue.concurrency_limit))


@app.command("pause")
def pause(name: str = typer.Argument(..., help="The queue's name.")) -> None:
    """Pause a queue: agents claim nothing from it until it is resumed."""
    _update(name, "Paused work queue {name!r}.", is_paused=True)


@app.command("resume")
def resume(name: str = typer.Argument(..., help="The queue's name.")) -> None:
    """Resume a paused queue."""
    _update(name, "Resumed work queue {name!r}.", is_paused=False)


@app.command("set-concurrency-limit")
def set_concurrency_limit(
    name: str = typer.Argument(..., help="The queue's name."),
    limit: int = typer.Argument(..., min=0, help="Most runs of the queue PENDING or RUNNING at once."),
) -> None:
    """Limit how many of the queue's runs are PENDING or RUNNING at once."""
    _update(name, "Work queue {name!r} now runs at most {limit} flow run(s) at once.", concurrency_limit=limit)


@app.command("clear-concurrency-limit")
def clear_concurrency_limit(name: str = typer.Argument(..., help="The queue's name.")) -> None:
    """Remove a queue's concurrency limit."""
    _update(name, "Work queue {name!r} has no concurrency limit.", concurrency_limit=None)


@app.command("delete")
def delete(name: str = typer.Argument(..., help="The queue's name.")) -> None:
    """Delete a work queue (its runs stay; a deployment naming it creates it again)."""
    from sluice.client import get_client

    with _errors(), get_client() as client:
        client.delete_work_queue(_queue(client, name).id)
    typer.echo(f"Deleted work queue {name!r}.")


app.command("preview")(work_queue_preview.preview)
