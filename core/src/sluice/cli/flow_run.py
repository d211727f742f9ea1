"""``sluice flow-run``: list, inspect, follow the logs of, cancel and delete flow runs."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer

app = typer.Typer(help="List, inspect, follow, cancel and delete flow runs.", no_args_is_help=True)


@contextmanager
def _errors() -> Iterator[None]:
    from sluice.cli.errors import fail
    from sluice.errors import SluiceError

    try:
        yield
    except SluiceError as exc:
        raise fail(str(exc)) from None


def _stamp(value: Any) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value else "-"


@app.command("ls")
def list_runs(
    states: list[str] = typer.Option([], "--state", help="Only runs in this state type (e.g. RUNNING); repeatable."),
    flow_names: list[str] = typer.Option([], "--flow-name", help="Only runs of this flow; repeatable."),
    deployment: str | None = typer.Option(None, "--deployment", help="Only runs of 'flow-name/deployment-name'."),
    limit: int = typer.Option(20, "--limit", min=1, max=1000, help="Most runs to show, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List flow runs, the most recently expected first."""
    from sluice.client import get_client

    criteria: dict[str, Any] = {"limit": limit}
    if states:
        criteria["state_types"] = [state.upper() for state in states]
    if flow_names:
        criteria["flow_names"] = flow_names
    with _errors(), get_client() as client:
        if deployment:
            criteria["deployment_ids"] = [client.read_deployment_by_name(deployment).id]
        runs = client.filter_flow_runs(**criteria)
    if as_json:
        typer.echo(json.dumps([run.model_dump(mode="json") for run in runs], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("name", "id", "state", "expected start", "queue")
    for run in runs:
        state = run.state.name if run.state else "-"
        table.add_row(run.name, str(run.id), state, _stamp(run.expected_start_time), run.work_queue_name or "-")
    Console().print(table)


@app.command("inspect")
def inspect(
    flow_run_id: str = typer.Argument(..., help="The flow run's id."),
    as_json: bool = typer.Option(
        False, "--json", help="Print JSON: the run, its state history, its task runs and its subflow runs."
    ),
) -> None:
    """Show every property of a flow run, its state history, and its tree: task runs and subflow runs
    with their states and durations (subflows under the task that called them)."""
    from sluice.cli.flow_run_tree import tree_lines
    from sluice.client import get_client

    with _errors(), get_client() as client:
        run = client.read_flow_run(flow_run_id)
        history = client.read_flow_run_states(run.id)
        tree = client.read_flow_run_tree(run.id)
    data = run.model_dump(mode="json")
    data["state_history"] = [entry.model_dump(mode="json") for entry in history]
    data["task_runs"] = [task_run.model_dump(mode="json") for task_run in tree.task_runs]
    data["subflow_runs"] = [subflow.model_dump(mode="json") for subflow in tree.subflow_runs]
    data["tree_truncated"] = tree.truncated
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    shown = {key: value for key, value in data.items() if key not in _NOT_SHOWN_AS_PROPERTIES}
    width = max(len(key) for key in shown)
    for key, value in shown.items():
        typer.echo(f"{key:<{width}}  {json.dumps(value) if isinstance(value, dict | list) else value}")
    typer.echo("state history:")
    for entry in history:
        message = f": {entry.message}" if entry.message else ""
        typer.echo(f"  {_stamp(entry.timestamp)}  {entry.type.value:<10} {entry.name}{message}")
    typer.echo("tree:")
    for line in tree_lines(tree):
        typer.echo(f"  {line}")


_NOT_SHOWN_AS_PROPERTIES = ("state", "state_history", "task_runs", "subflow_runs", "tree_truncated")


def _level(level: int) -> str:
    import logging

    return logging.getLevelName(level) if isinstance(logging.getLevelName(level), str) else str(level)


@app.command("logs")
def logs(
    flow_run_id: str = typer.Argument(..., help="The flow run's id."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new logs until the run ends."),
) -> None:
    """Print a flow run's logs (with --follow, until it reaches a final state)."""
    from sluice.client import get_client

    seen = 0
    with _errors(), get_client() as client:
        run = client.read_flow_run(flow_run_id)
        while True:
            finished = run.state is not None and run.state.is_terminal  # read before the logs: none are missed
            batch = client.filter_logs(flow_run_ids=[run.id], offset=seen, limit=1000)
            for log in batch:
                typer.echo(f"{_stamp(log.timestamp)} | {_level(log.level):<7} | {log.name} - {log.message}")
            seen += len(batch)
            if len(batch) == 1000:
                continue
            if not follow or finished:
                break
            time.sleep(0.5)
            run = client.read_flow_run(run.id)


@app.command("cancel")
def cancel(flow_run_id: str = typer.Argument(..., help="The flow run's id.")) -> None:
    """Cancel a flow run: a scheduled one is CANCELLED at once; a pending or running one becomes
    CANCELLING and its agent stops the infrastructure."""
    from sluice.cli.errors import fail
    from sluice.client import get_client

    with _errors(), get_client() as client:
        run = client.read_flow_run(flow_run_id)
        current = run.state.type.value if run.state else None
        if run.state is not None and run.state.is_terminal:
            raise fail(f"flow run {run.name!r} is already {current}")
        target = "CANCELLED" if current in (None, "SCHEDULED") else "CANCELLING"
        result = client.set_flow_run_state(run.id, target, message="Cancelled from the CLI")
    if result.status != "ACCEPT":
        raise fail(f"the server refused to cancel flow run {run.name!r}: {result.reason}")
    typer.echo(f"Flow run {run.name!r} is {target}.")


@app.command("delete")
def delete(flow_run_id: str = typer.Argument(..., help="The flow run's id.")) -> None:
    """Delete a flow run with its state history and logs."""
    from sluice.client import get_client

    with _errors(), get_client() as client:
        client.delete_flow_run(flow_run_id)
    typer.echo(f"Deleted flow run {flow_run_id}.")
