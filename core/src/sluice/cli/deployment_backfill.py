"""``sluice deployment backfill``: create the runs a deployment's schedules had in a past window.

Registered on the ``sluice deployment`` Typer app by ``sluice.cli.deployment``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import typer

#: A backfill creating more runs than this needs ``--yes``.
CONFIRM_ABOVE = 1000


def parse_time(text: str, option: str) -> datetime:
    """An ISO 8601 time from the command line (a naive one is UTC); a bad one names the option."""
    from sluice.errors import ConfigurationError

    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigurationError(
            f"invalid {option} {text!r}: use ISO 8601, e.g. 2026-01-01 or 2026-01-01T09:00:00+01:00"
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def backfill(
    name: str = typer.Argument(..., help="The deployment, as 'flow-name/deployment-name'."),
    start: str = typer.Option(..., "--start", help="Start of the window, ISO 8601 (naive times are UTC)."),
    end: str = typer.Option(..., "--end", help="End of the window, ISO 8601, inclusive."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List the runs that would be created; create none."),
    yes: bool = typer.Option(False, "--yes", "-y", help=f"Create more than {CONFIRM_ABOVE:,} runs."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Create one run per time the deployment's active schedules fire from --start to --end, skipping
    times that already have a run (so it is safe to repeat, and never duplicates the scheduler)."""
    from sluice.cli.deployment_helpers import cli_errors

    with cli_errors():
        backfill_command(name, parse_time(start, "--start"), parse_time(end, "--end"), dry_run, yes, as_json)


def backfill_command(name: str, start: datetime, end: datetime, dry_run: bool, yes: bool, as_json: bool) -> None:
    """List the window's runs first; create them unless ``dry_run``, asking for ``yes`` past
    ``CONFIRM_ABOVE`` new runs."""
    from sluice.client import get_client
    from sluice.errors import ConfigurationError
    from sluice.schemas.scheduling import MAX_BACKFILL_RUNS

    with get_client() as client:
        deployment = client.read_deployment_by_name(name)
        plan = client.backfill_deployment(deployment.id, start, end, dry_run=True)
        new = plan.total - plan.existing
        if dry_run:
            _show(plan, name, as_json)
            return
        if new > CONFIRM_ABOVE and not yes:
            raise ConfigurationError(
                f"the backfill of {name} would create {new:,} runs, more than {CONFIRM_ABOVE:,}: "
                "add --yes to create them (or --dry-run to list them)"
            )
        result = client.backfill_deployment(deployment.id, start, end, max_runs=MAX_BACKFILL_RUNS)
    if as_json:
        typer.echo(json.dumps(result.model_dump(mode="json"), indent=2))
        return
    typer.echo(
        f"Created {result.created:,} runs of {name} from {_stamp(start)} to {_stamp(end)} "
        f"({result.existing:,} of the {result.total:,} scheduled times had a run already)."
    )


def _stamp(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _show(plan: Any, name: str, as_json: bool) -> None:
    """Print a dry run: every scheduled time, new or existing, and a summary line."""
    if as_json:
        typer.echo(json.dumps(plan.model_dump(mode="json"), indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("expected start (UTC)", "schedule", "run")
    for run in plan.runs:
        status = f"exists ({run.flow_run_id})" if run.exists else "new"
        table.add_row(_stamp(run.expected_start_time), str(run.schedule_id)[:8], status)
    if plan.runs:
        Console(width=120).print(table)
    new = plan.total - plan.existing
    typer.echo(
        f"Dry run: {new:,} new runs of {name} would be created ({plan.existing:,} of the {plan.total:,} "
        f"scheduled times have a run already)."
    )
