"""``sluice deployment``: build, apply, list, inspect, run, execute, preview and delete deployments,
and manage their schedules.

Each command is a thin layer over ``sluice.cli.deployment_helpers`` (output) and
``sluice.deploy_build`` / ``sluice.deployments`` (the work); heavy modules are imported inside the
commands so that ``sluice --help`` stays fast.
"""

from __future__ import annotations

import typer

from sluice.cli.deployment_backfill import backfill
from sluice.cli.deployment_helpers import cli_errors
from sluice.cli.deployment_schedule_options import ScheduleOptionsCommand

app = typer.Typer(help="Build, apply, run and manage deployments.", no_args_is_help=True)

_NAME_HELP = "The deployment, as 'flow-name/deployment-name'."
_FOLLOW_SYMLINKS_HELP = "Upload a copy of what symlinks pointing outside the folder point to (refused otherwise)."
_INFRA_HELP = "Infrastructure type slug (default: SLUICE_DEFAULT_INFRASTRUCTURE)."
_SCHEDULE_HELP = "A schedule of any installed type, as a YAML or JSON mapping: '{type: <type>, <field>: <value>}'."
_TIMEZONE_HELP = "IANA time zone of the schedule (given by a shorthand or --schedule)."


@app.command("build", cls=ScheduleOptionsCommand)
def build(
    ctx: typer.Context,
    entrypoint: str = typer.Argument(..., help="The flow: path/to/file.py:function (or package.module:function)."),
    name: str = typer.Option(..., "-n", "--name", help="The deployment's name."),
    version: str | None = typer.Option(None, "-v", "--version", help="Version (default: md5 of the flow file)."),
    tags: list[str] = typer.Option([], "-t", "--tag", help="A tag for the deployment's runs; repeatable."),
    work_queue: str | None = typer.Option(None, "-q", "--work-queue", help="The work queue agents pick runs from."),
    output: str | None = typer.Option(None, "-o", "--output", help="YAML file (default: <function>-deployment.yaml)."),
    infra: str | None = typer.Option(
        None, "-i", "--infra", help="Infrastructure type slug (default: SLUICE_DEFAULT_INFRASTRUCTURE)."
    ),
    infra_block: str | None = typer.Option(None, "-ib", "--infra-block", help="Saved infrastructure: type/name."),
    overrides: list[str] = typer.Option([], "--override", help="Infrastructure override env.KEY=value; repeatable."),
    storage_block: str | None = typer.Option(None, "-sb", "--storage-block", help="Storage: type/name[/path]."),
    schedule: str | None = typer.Option(None, "--schedule", help=_SCHEDULE_HELP),
    timezone: str | None = typer.Option(None, "--timezone", help=_TIMEZONE_HELP),
    apply: bool = typer.Option(False, "--apply", "-a", help="Apply the deployment to the API as well."),
    skip_upload: bool = typer.Option(False, "--skip-upload", help="Do not upload the files to storage."),
    path: str | None = typer.Option(None, "--path", help="Local folder of the flow; with -sb, added to its sub-path."),
    params: list[str] = typer.Option([], "--param", help="A default parameter k=v (JSON values); repeatable."),
    params_json: str | None = typer.Option(None, "--params", help="Default parameters as a JSON object."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List the files that would be uploaded; change nothing."),
    follow_symlinks: bool = typer.Option(False, "--follow-symlinks", help=_FOLLOW_SYMLINKS_HELP),
) -> None:
    """Build a deployment.yaml for a flow, uploading its folder to the storage block.

    Shorthand schedule options come from the installed schedule types (they are listed below, before
    --schedule); --schedule takes a schedule of any installed type.
    """
    options = dict(locals())
    from sluice.cli.deployment_helpers import BuildOptions, build_command
    from sluice.cli.deployment_schedule_options import given_schedules, schedule_choices

    del options["ctx"]
    with cli_errors():
        schedules = given_schedules(ctx, options.pop("schedule"))
        build_command(BuildOptions(**options, schedules=schedules, schedule_choices=schedule_choices(ctx)))


@app.command("apply")
def apply(
    path: str = typer.Argument(..., help="The deployment.yaml to apply."),
    upload: bool = typer.Option(False, "--upload", help="Upload the current folder to the storage block first."),
    follow_symlinks: bool = typer.Option(False, "--follow-symlinks", help=f"With --upload: {_FOLLOW_SYMLINKS_HELP}"),
) -> None:
    """Create or update the deployment described by a deployment.yaml on the API."""
    from sluice.cli.deployment_helpers import apply_file

    with cli_errors():
        apply_file(path, upload, follow_symlinks)


@app.command("create")
def create(
    path: str = typer.Argument(..., help="The deployment.yaml to apply."),
    upload: bool = typer.Option(False, "--upload", help="Upload the current folder to the storage block first."),
    follow_symlinks: bool = typer.Option(False, "--follow-symlinks", help=f"With --upload: {_FOLLOW_SYMLINKS_HELP}"),
) -> None:
    """Create or update a deployment from a deployment.yaml (the same as apply)."""
    from sluice.cli.deployment_helpers import apply_file

    with cli_errors():
        apply_file(path, upload, follow_symlinks)


@app.command("ls")
def list_deployments(
    flow_name: list[str] = typer.Option([], "--flow-name", help="Only the deployments of this flow; repeatable."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List deployments: flow/name, id, schedule, work queue and tags."""
    from sluice.cli.deployment_helpers import list_command

    with cli_errors():
        list_command(flow_name, as_json)


@app.command("inspect")
def inspect_deployment(
    name: str = typer.Argument(..., help=_NAME_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show every property of a deployment, its infrastructure included."""
    from sluice.cli.deployment_helpers import inspect_command

    with cli_errors():
        inspect_command(name, as_json)


@app.command("run")
def run(
    name: str = typer.Argument(..., help=_NAME_HELP),
    params: list[str] = typer.Option([], "--param", help="A parameter k=v (JSON values); repeatable."),
    params_json: str | None = typer.Option(None, "--params", help="Parameters as a JSON object."),
    start_in: str | None = typer.Option(None, "--start-in", help="Start later, e.g. '10 minutes'."),
    start_at: str | None = typer.Option(None, "--start-at", help="Start at an ISO 8601 time."),
    tags: list[str] = typer.Option([], "--tag", "-t", help="A tag for the run; repeatable."),
    watch: bool = typer.Option(False, "--watch", help="Follow the run's states and logs to its end."),
    watch_timeout: str | None = typer.Option(
        None,
        "--watch-timeout",
        metavar="SECONDS",
        help="With --watch: stop watching after this many seconds (exit 124); the run is left as it is.",
    ),
) -> None:
    """Create a run of a deployment; an agent serving its work queue starts it."""
    options = dict(locals())
    from sluice.cli.deployment_helpers import RunOptions, run_command

    with cli_errors():
        run_command(RunOptions(**options))


@app.command("execute")
def execute(
    name: str = typer.Argument(..., help=_NAME_HELP),
    params: list[str] = typer.Option([], "--param", help="A parameter k=v (JSON values); repeatable."),
    params_json: str | None = typer.Option(None, "--params", help="Parameters as a JSON object."),
) -> None:
    """Run a deployment here, in this process, without an agent."""
    from sluice.cli.deployment_helpers import execute_command

    with cli_errors():
        execute_command(name, params, params_json)


@app.command("preview")
def preview(path: str = typer.Argument(..., help="The deployment.yaml to preview.")) -> None:
    """Show what the infrastructure would run for this deployment."""
    from sluice.cli.deployment_helpers import preview_command

    with cli_errors():
        preview_command(path)


@app.command("delete")
def delete(
    name: str | None = typer.Argument(None, help=_NAME_HELP),
    deployment_id: str | None = typer.Option(None, "--id", help="The deployment's id instead of its name."),
) -> None:
    """Delete a deployment (its runs are kept)."""
    from sluice.cli.deployment_helpers import delete_command

    with cli_errors():
        delete_command(name, deployment_id)


@app.command("set-schedule", cls=ScheduleOptionsCommand)
def set_schedule(
    ctx: typer.Context,
    name: str = typer.Argument(..., help=_NAME_HELP),
    schedule: str | None = typer.Option(None, "--schedule", help=_SCHEDULE_HELP),
    timezone: str | None = typer.Option(None, "--timezone", help=_TIMEZONE_HELP),
) -> None:
    """Give a deployment a new schedule (and make it active).

    Give it with a shorthand option of an installed schedule type (listed below, before --schedule) or
    with --schedule.
    """
    from sluice.cli.deployment_helpers import set_schedule_command
    from sluice.cli.deployment_schedule_options import given_schedules, schedule_choices

    with cli_errors():
        set_schedule_command(name, given_schedules(ctx, schedule), timezone, schedule_choices(ctx))


@app.command("pause-schedule")
def pause_schedule(name: str = typer.Argument(..., help=_NAME_HELP)) -> None:
    """Stop a deployment's schedule from creating runs (it is kept)."""
    from sluice.cli.deployment_helpers import update_schedule_command

    with cli_errors():
        update_schedule_command(name, {"is_schedule_active": False}, "paused")


@app.command("resume-schedule")
def resume_schedule(name: str = typer.Argument(..., help=_NAME_HELP)) -> None:
    """Let a paused schedule create runs again."""
    from sluice.cli.deployment_helpers import update_schedule_command

    with cli_errors():
        update_schedule_command(name, {"is_schedule_active": True}, "resumed")


@app.command("clear-schedule")
def clear_schedule(name: str = typer.Argument(..., help=_NAME_HELP)) -> None:
    """Remove a deployment's schedule; its runs are then only created on demand."""
    from sluice.cli.deployment_helpers import update_schedule_command

    with cli_errors():
        update_schedule_command(name, {"schedule": None}, "cleared")


app.command("backfill")(backfill)
