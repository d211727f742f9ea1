"""``sluice work-queue preview``: the runs agents will be handed in the next hours; and the next runs
of one deployment, for ``sluice deployment inspect``.

``preview`` is registered on the ``sluice work-queue`` Typer app by ``sluice.cli.work_queue``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import typer


def preview(
    name: str | None = typer.Argument(None, help="The work queue (default: every queue)."),
    hours: float = typer.Option(24.0, "--hours", min=0.001, help="How far ahead to look."),
    limit: int = typer.Option(200, "--limit", min=1, max=1000, help="Most runs to show."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List the SCHEDULED runs due in the next --hours (Late ones included), soonest first."""
    from sluice.cli.deployment_helpers import cli_errors
    from sluice.client import get_client

    with cli_errors(), get_client() as client:
        runs = client.preview_work_queues([name] if name else None, hours=hours, limit=limit)
    if as_json:
        typer.echo(json.dumps([run.model_dump(mode="json") for run in runs], indent=2))
        return
    where = f"work queue {name!r}" if name else "any work queue"
    if not runs:
        typer.echo(f"No runs are scheduled in {where} in the next {hours:g} hours.")
        return
    print_upcoming(runs)


def print_upcoming(runs: list[Any]) -> None:
    """A table of upcoming runs: expected start, state (Scheduled or Late), deployment, run, queue."""
    from rich.console import Console
    from rich.table import Table

    table = Table("expected start (UTC)", "state", "deployment", "run", "id", "queue")
    for run in runs:
        deployment = f"{run.flow_name}/{run.deployment_name}" if run.deployment_name else (run.flow_name or "-")
        state = run.state.name if run.state else "-"
        table.add_row(_stamp(run.expected_start_time), state, deployment, run.name, str(run.id), run.work_queue_name)
    Console(width=160).print(table)


def upcoming_runs(client: Any, deployment_id: Any, limit: int = 10) -> list[dict[str, Any]]:
    """The deployment's next SCHEDULED runs (Late ones first, as they are due already), for
    ``deployment inspect``: name, id, state name and expected start of each."""
    runs = client.filter_flow_runs(
        deployment_ids=[deployment_id], state_types=["SCHEDULED"], sort="EXPECTED_START_TIME_ASC", limit=limit
    )
    return [
        {
            "name": run.name,
            "id": str(run.id),
            "state": run.state.name if run.state else None,
            "expected_start_time": _stamp(run.expected_start_time),
        }
        for run in runs
    ]


def _stamp(value: datetime | None) -> str:
    if value is None:
        return "-"
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
