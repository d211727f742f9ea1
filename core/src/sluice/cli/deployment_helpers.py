"""The work behind ``sluice deployment`` commands: each function is one command, printing its output.

Errors are raised as ``SluiceError``; ``cli_errors()`` turns them into one ``Error: …`` line on
stderr and a non-zero exit.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import typer

from sluice.errors import ConfigurationError, SluiceError


@contextmanager
def cli_errors() -> Iterator[None]:
    """Turn a ``SluiceError`` (or a pydantic ``ValidationError``) into ``Error: …`` on stderr and exit 1."""
    from pydantic import ValidationError

    from sluice.cli.errors import fail

    try:
        yield
    except SluiceError as exc:
        raise fail(str(exc)) from None
    except ValidationError as exc:
        from sluice.schedules import format_validation_error

        raise fail(format_validation_error(exc)) from None


def echo(message: str = "") -> None:
    """Print one line on stdout."""
    typer.echo(message)


def warn(message: str) -> None:
    """Print a warning line on stderr."""
    typer.echo(f"Warning: {message}", err=True)


# -- build and apply -----------------------------------------------------------------------------


@dataclass
class BuildOptions:
    """The options of ``sluice deployment build``, as given."""

    entrypoint: str
    name: str
    version: str | None = None
    tags: list[str] = field(default_factory=list)
    work_queue: str | None = None
    output: str | None = None
    infra: str | None = None
    infra_block: str | None = None
    overrides: list[str] = field(default_factory=list)
    storage_block: str | None = None
    timezone: str | None = None
    apply: bool = False
    skip_upload: bool = False
    path: str | None = None
    params: list[str] = field(default_factory=list)
    params_json: str | None = None
    dry_run: bool = False
    follow_symlinks: bool = False
    #: The schedules given (a shorthand or ``--schedule``): at most one is accepted.
    schedules: list[Any] = field(default_factory=list)
    #: The options that give a schedule, for messages (``--cron, --interval or --schedule``).
    schedule_choices: str = "--schedule"


def build_command(options: BuildOptions) -> None:
    """Validate every option, then upload, write the YAML and apply, in that order."""
    deployment, output = plan_build(options)
    root = Path.cwd()
    if options.dry_run:
        show_dry_run(deployment, root, output, options.follow_symlinks)
        return
    from sluice.deploy_build import takes_uploads, upload_with_progress
    from sluice.ignore import plan_upload

    if deployment.storage is not None and not options.skip_upload and not takes_uploads(deployment.storage):
        echo(f"Nothing uploaded: {read_only_note(deployment)}")
    elif deployment.storage is not None and not options.skip_upload:
        plan = plan_upload(root, follow_symlinks=options.follow_symlinks)
        plan.check()
        files, size = upload_with_progress(deployment, plan)
        where = deployment.storage.url_for(deployment.path) if hasattr(deployment.storage, "url_for") else ""
        echo(f"Uploaded {files} file{'s' if files != 1 else ''} ({size:,} bytes) to {where or 'storage'}.")
        report_links(plan)
    deployment.to_yaml(output)
    echo(f"Deployment YAML created at '{output}'.")
    if not deployment.work_queue_name:
        warn("no work queue set (-q/--work-queue): no agent will pick up this deployment's runs.")
    if options.apply:
        deployment_id = deployment.apply()
        echo(f"Deployment '{deployment.full_name}' successfully created with id '{deployment_id}'.")


def plan_build(options: BuildOptions) -> tuple[Any, Path]:
    """Every check of ``build``: load the flow, resolve blocks, parse options, build the deployment."""
    from sluice.deploy_build import (
        describe_deployment,
        parse_assignments,
        parse_parameters,
        resolve_infrastructure,
        resolve_storage,
        schedule_from_options,
        storage_path,
    )
    from sluice.deployments import Deployment
    from sluice.flows import is_file_entrypoint, load_flow_from_entrypoint, split_entrypoint

    if options.follow_symlinks and (options.skip_upload or not options.storage_block):
        raise ConfigurationError(
            "--follow-symlinks only applies to an upload: give --storage-block (without --skip-upload), or leave it out"
        )
    overrides = parse_assignments(options.overrides, "--override", decode_json=False)
    schedule = schedule_from_options(options.schedules, options.timezone, options.schedule_choices)
    flow = load_flow_from_entrypoint(options.entrypoint)
    parameters = parse_parameters(options.params, options.params_json, flow.parameters)
    storage, sub_path = resolve_storage(options.storage_block)
    # With storage, --path adds to the slug's own sub-path: -sb s3/dev/team --path app → team/app.
    path = storage_path(sub_path, options.path) if storage is not None else options.path
    infrastructure = resolve_infrastructure(options.infra, options.infra_block)
    output = Path(options.output or f"{split_entrypoint(options.entrypoint)[1]}-deployment.yaml")
    if not output.parent.is_dir():
        raise ConfigurationError(f"--output {str(output)!r}: the folder {str(output.parent)!r} does not exist")
    deployment = describe_deployment(
        Deployment,
        flow,
        name=options.name,
        version=options.version,
        work_queue_name=options.work_queue,
        storage=storage,
        infrastructure=infrastructure,
        infra_overrides=overrides,
        schedule=schedule,
        parameters=parameters,
        tags=options.tags,
        path=path,
        # a module entrypoint stays one: the engine imports it the same way
        entrypoint=None if is_file_entrypoint(split_entrypoint(options.entrypoint)[0]) else options.entrypoint,
    )
    deployment.check()
    if options.apply:
        _check_api_reachable()  # before uploading or writing: --apply must not fail half-way
    return deployment, output


def _check_api_reachable() -> None:
    from sluice.client import get_client

    with get_client() as client:
        client.health()


def read_only_note(deployment: Any) -> str:
    """Why a read-only storage block gets no upload, and where runs will read the code."""
    where = f" (path {deployment.path!r})" if deployment.path else ""
    return (
        f"{deployment.storage.slug_label()} is read-only; push the code there yourself, "
        f"runs pull it from the block{where}."
    )


def show_dry_run(deployment: Any, root: Path, output: Path, follow_symlinks: bool = False) -> None:
    """List what ``build`` would upload and write, without doing it.

    Each symlink is shown as ``link -> target  (what happens to it)`` among the files; when one would
    be refused, the listing ends with the error the build would stop with.
    """
    from sluice.deploy_build import takes_uploads
    from sluice.ignore import describe_link, plan_upload

    if deployment.storage is None:
        echo(f"No storage block: the flow runs from the local folder {deployment.path}; nothing to upload.")
    elif not takes_uploads(deployment.storage):
        echo(f"Nothing to upload: {read_only_note(deployment)}")
    else:
        plan = plan_upload(root, follow_symlinks=follow_symlinks)
        links = {link.path.as_posix(): link for link in plan.links}
        lines = {file.as_posix(): file.as_posix() for file in plan.files}
        lines.update({name: f"{name} -> {link.shown_target}  ({describe_link(link)})" for name, link in links.items()})
        for name in sorted(lines):
            echo(lines[name])
        plan.check()  # the error the build would stop with
        size = sum((root / file).stat().st_size for file in plan.files)
        files = len(plan.files)
        where = deployment.storage.url_for(deployment.path) if hasattr(deployment.storage, "url_for") else "storage"
        echo(f"Would upload {files} file{'s' if files != 1 else ''} ({size:,} bytes) to {where}.")
    echo(f"Would write '{output}' (dry run: nothing was uploaded or written).")


def report_links(plan: Any) -> None:
    """After an upload: name the links copied because of ``--follow-symlinks``, warn about loops skipped."""
    if plan.copied:
        names = ", ".join(link.path.as_posix() for link in plan.copied)
        count = len(plan.copied)
        plural = "s that point" if count != 1 else " that points"
        echo(f"Copied {count} symlink{plural} outside the project (--follow-symlinks): {names}.")
    for link in plan.skipped:
        warn(
            f"symlink {link.path.as_posix()!r} points to {link.shown_target!r}, a folder that contains it: "
            "skipped (a loop)"
        )


def apply_file(path: str, upload: bool, follow_symlinks: bool = False) -> None:
    """``apply FILE``: read, validate and upsert the deployment (uploading first with ``--upload``)."""
    from sluice.deployments import Deployment

    if follow_symlinks and not upload:
        raise ConfigurationError("--follow-symlinks needs --upload")
    deployment = Deployment.from_yaml(path)
    deployment_id = deployment.apply(upload=upload, follow_symlinks=follow_symlinks)
    echo(f"Deployment '{deployment.full_name}' successfully created with id '{deployment_id}'.")


# -- reading ---------------------------------------------------------------------------------------


def _all_deployments(client: Any, flow_names: list[str]) -> list[Any]:
    result: list[Any] = []
    page = 1000
    while True:
        batch = client.filter_deployments(flow_names=flow_names or None, limit=page, offset=len(result))
        result.extend(batch)
        if len(batch) < page:
            return result


def describe_schedule(schedule: dict[str, Any] | None) -> str:
    """A schedule's one-line description, or its JSON when its plugin is not installed."""
    if not schedule:
        return ""
    return _describe_schedule_json(json.dumps(schedule, sort_keys=True))


@lru_cache(maxsize=1024)
def _describe_schedule_json(text: str) -> str:
    # many deployments share a schedule: describe each distinct one once
    from sluice.schedules import schedule_from_dict

    try:
        return schedule_from_dict(json.loads(text)).describe()
    except SluiceError:
        return text


def list_command(flow_names: list[str], as_json: bool) -> None:
    """``ls``: a table titled "Deployments", or JSON."""
    from sluice.client import get_client

    with get_client() as client:
        deployments = _all_deployments(client, flow_names)
    if as_json:
        echo(json.dumps([item.model_dump(mode="json") for item in deployments], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Deployments")
    for column in ("Name", "ID", "Schedule", "Work queue", "Tags"):
        table.add_column(column, overflow="fold")
    for item in deployments:
        schedule = describe_schedule(item.schedule)
        if schedule and not item.is_schedule_active:
            schedule += " (paused)"
        table.add_row(
            f"{item.flow_name}/{item.name}", str(item.id), schedule, item.work_queue_name or "", ", ".join(item.tags)
        )
    Console(width=200 if not _is_terminal() else None).print(table)


def _is_terminal() -> bool:
    import sys

    return sys.stdout.isatty()


def inspect_command(name: str, as_json: bool) -> None:
    """``inspect``: every property of the deployment, with its infrastructure and its next runs."""
    from sluice.cli.work_queue_preview import upcoming_runs
    from sluice.client import get_client
    from sluice.deployments import read_deployment

    with get_client() as client:
        remote = read_deployment(client, name)
        data = remote.model_dump(mode="json")
        if remote.infrastructure_document_id:
            document = client.read_block_document(remote.infrastructure_document_id)
            data["infrastructure"] = {"type": document.block_type_slug, **document.data}
        if remote.storage_document_id:  # secrets stay masked
            document = client.read_block_document(remote.storage_document_id)
            data["storage"] = {"type": document.block_type_slug, "name": document.name, **document.data}
        data["upcoming_runs"] = upcoming_runs(client, remote.id)
    if as_json:
        echo(json.dumps(data, indent=2))
        return
    from rich.console import Console
    from rich.pretty import Pretty

    Console().print(Pretty(data, expand_all=True))


# -- runs ------------------------------------------------------------------------------------------

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h|days?|d|weeks?|w)\b")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """``"10 minutes"``, ``"1h 30m"``, ``"in 2 days"`` → a timedelta; anything else raises ``ConfigurationError``."""
    cleaned = text.strip().lower().removeprefix("in ").strip()
    matches = list(_DURATION.finditer(cleaned))
    leftover = _DURATION.sub("", cleaned).replace(",", "").replace("and", "").strip()
    if not matches or leftover:
        raise ConfigurationError(f"--start-in {text!r}: use a duration such as '10 minutes', '2 hours' or '1h 30m'")
    seconds = sum(float(match.group(1)) * _UNIT_SECONDS[match.group(2)[0]] for match in matches)
    return timedelta(seconds=seconds)


def start_time(start_in: str | None, start_at: str | None) -> datetime | None:
    """When the run should start, from ``--start-in`` or ``--start-at`` (None: now)."""
    if start_in and start_at:
        raise ConfigurationError("give either --start-in or --start-at, not both")
    if start_in:
        return datetime.now(UTC) + parse_duration(start_in)
    if start_at:
        try:
            moment = datetime.fromisoformat(start_at)
        except ValueError:
            raise ConfigurationError(
                f"--start-at {start_at!r} is not an ISO 8601 time (e.g. 2026-01-31T09:00)"
            ) from None
        return moment if moment.tzinfo else moment.astimezone()  # a naive time is local time
    return None


#: The exit code of ``run --watch`` when ``--watch-timeout`` passes before the run ends (as timeout(1)).
WATCH_TIMEOUT_EXIT_CODE = 124


@dataclass
class RunOptions:
    """The options of ``sluice deployment run``, as given."""

    name: str
    params: list[str] = field(default_factory=list)
    params_json: str | None = None
    start_in: str | None = None
    start_at: str | None = None
    tags: list[str] = field(default_factory=list)
    watch: bool = False
    watch_timeout: str | None = None


def parse_watch_timeout(watch: bool, watch_timeout: str | None) -> float | None:
    """``--watch-timeout`` as seconds: it needs ``--watch`` and a positive number; raises ``ConfigurationError``."""
    if watch_timeout is None:
        return None
    if not watch:
        raise ConfigurationError("--watch-timeout needs --watch")
    try:
        seconds = float(watch_timeout)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds < float("inf"):  # refuses nan too
        raise ConfigurationError(f"--watch-timeout {watch_timeout!r}: give a positive number of seconds, e.g. 600")
    return seconds


def run_command(options: RunOptions) -> None:
    """``run``: create a run; with ``--watch`` follow it and exit non-zero unless it completed.

    When ``--watch-timeout`` passes first, say where the run is stuck and exit with
    ``WATCH_TIMEOUT_EXIT_CODE``; the run itself is left as it is.
    """
    from sluice.cli.errors import fail
    from sluice.deploy_build import parse_parameters
    from sluice.deployments import run_deployment

    timeout = parse_watch_timeout(options.watch, options.watch_timeout)
    schema = _schema_of(options.name) if options.params else None
    parameters = parse_parameters(options.params, options.params_json, schema)
    when = start_time(options.start_in, options.start_at)
    run = run_deployment(options.name, parameters=parameters, scheduled_time=when, tags=options.tags or None)
    echo(f"Created flow run '{run.name}' with id '{run.id}'.")
    if when is not None:
        echo(f"It is scheduled to start at {when.isoformat(timespec='seconds')}.")
    if not options.watch:
        return
    final = watch_flow_run(run.id, timeout=timeout)
    if final.state is None or not final.state.is_terminal:
        raise fail(watch_timeout_message(final, timeout or 0), WATCH_TIMEOUT_EXIT_CODE)
    if final.state.type.value != "COMPLETED":
        raise typer.Exit(1)


def watch_flow_run(flow_run_id: Any, timeout: float | None = None, poll_interval: float = 0.5) -> Any:
    """Print the run's state changes and logs until it ends or ``timeout`` seconds pass; return the run.

    The run returned is as last read: in a terminal state, or not (the timeout passed first).
    """
    from sluice.client import get_client

    deadline = None if timeout is None else time.monotonic() + timeout
    seen_logs = 0
    last_state: tuple[str, str] | None = None
    with get_client() as client:
        while True:
            run = client.read_flow_run(flow_run_id)
            while True:  # every log so far, a page at a time
                logs = client.filter_logs(flow_run_ids=[flow_run_id], offset=seen_logs, limit=1000)
                for log in logs:
                    stamp = log.timestamp.astimezone().strftime("%H:%M:%S")
                    echo(f"{stamp} | {_level_name(log.level):<7} | {log.message}")
                seen_logs += len(logs)
                if len(logs) < 1000:
                    break
            state = run.state
            if state is not None and (state.type.value, state.name) != last_state:
                last_state = (state.type.value, state.name)
                echo(f"Flow run '{run.name}' is {state.name}" + (f": {state.message}" if state.message else ""))
            if state is not None and state.is_terminal:
                return run
            if deadline is not None and time.monotonic() >= deadline:
                return run
            pause = poll_interval if deadline is None else min(poll_interval, deadline - time.monotonic())
            time.sleep(max(pause, 0.0))


def watch_timeout_message(run: Any, timeout: float) -> str:
    """One line for a watch that timed out: the run, its state, and what to check."""
    state = run.state
    where = f"still {state.name}" if state is not None else "without a state"
    queue = run.work_queue_name
    if state is None or state.type.value == "SCHEDULED":
        scheduled = state.scheduled_time if state is not None else None
        if scheduled is not None and scheduled > datetime.now(UTC):
            hint = f"it is due at {scheduled.astimezone().isoformat(timespec='seconds')}"
        elif queue:
            hint = f"is an agent running on work queue {queue!r}? (sluice agent start -q {queue})"
        else:
            hint = "its deployment has no work queue, so no agent picks it up (set one with -q and apply it again)"
    elif state.type.value == "PENDING":
        hint = "an agent claimed it but it has not started: check that agent's output"
    else:
        hint = f"follow it with 'sluice flow-run logs --follow {run.id}'"
    return (
        f"stopped watching flow run '{run.name}' ({run.id}) after {timeout:g}s; it is {where}: "
        f"{hint}. The run is left as it is."
    )


def _schema_of(name: str) -> dict[str, Any] | None:
    """The parameter schema of the deployment ``flow/name`` (raises when it does not exist)."""
    from sluice.client import get_client
    from sluice.deployments import read_deployment

    with get_client() as client:
        return read_deployment(client, name).parameter_openapi_schema


def _level_name(level: int) -> str:
    import logging

    return logging.getLevelName(level)


def execute_command(name: str, params: list[str], params_json: str | None) -> None:
    """``execute``: create a run of the deployment and run it in this process."""
    from sluice.deploy_build import parse_parameters
    from sluice.engine import create_local_run, execute_flow_run

    parameters = parse_parameters(params, params_json, _schema_of(name) if params else None)
    run = create_local_run(name, parameters)
    echo(f"Executing flow run '{run.name}' ({run.id}) in this process.")
    final = execute_flow_run(run.id)
    echo(f"Flow run '{run.name}' finished in state {final.name}" + (f": {final.message}" if final.message else ""))
    if final.type.value != "COMPLETED":
        raise typer.Exit(1)


# -- the rest --------------------------------------------------------------------------------------


def preview_command(path: str) -> None:
    """``preview FILE``: what the infrastructure would run."""
    from sluice.deployments import Deployment, default_infrastructure

    deployment = Deployment.from_yaml(path)
    infrastructure = deployment.infrastructure or default_infrastructure()
    if deployment.infra_overrides:
        infrastructure = infrastructure.with_overrides(deployment.infra_overrides)
    prepared = infrastructure.prepare_for_flow_run("<flow-run-id>", flow_name=deployment.flow_name)
    echo(prepared.preview())


def delete_command(name: str | None, deployment_id: str | None) -> None:
    """``delete``: by name or by ``--id``."""
    from uuid import UUID

    from sluice.client import get_client
    from sluice.deployments import read_deployment

    if bool(name) == bool(deployment_id):
        raise ConfigurationError("give the deployment as flow-name/deployment-name or with --id, not both")
    with get_client() as client:
        if deployment_id:
            try:
                target = UUID(deployment_id)
            except ValueError:
                raise ConfigurationError(f"--id {deployment_id!r} is not a valid id") from None
            label = deployment_id
        else:
            target = read_deployment(client, name or "").id
            label = name
        client.delete_deployment(target)
    echo(f"Deleted deployment '{label}'.")


def set_schedule_command(name: str, schedules: list[Any], timezone: str | None, choices: str = "--schedule") -> None:
    """``set-schedule``: validate the schedule (``deploy_build.ScheduleOption``s, at most one), then
    store it and make it active."""
    from sluice.deploy_build import schedule_from_options

    schedule = schedule_from_options(schedules, timezone, choices)
    if schedule is None:
        raise ConfigurationError(f"give a schedule: {choices}")
    data = {"schedule": schedule.model_dump(mode="json"), "is_schedule_active": True}
    update_schedule_command(name, data, f"set to {schedule.describe()}")


def update_schedule_command(name: str, changes: dict[str, Any], done: str) -> None:
    """Apply ``changes`` to the deployment and say what was done."""
    from sluice.client import get_client
    from sluice.deployments import read_deployment

    with get_client() as client:
        remote = read_deployment(client, name)
        if "schedule" not in changes and not remote.schedule:
            raise ConfigurationError(f"deployment {name!r} has no schedule (give it one with set-schedule)")
        client.update_deployment(remote.id, **changes)
    echo(f"Schedule of deployment '{name}' {done}.")
