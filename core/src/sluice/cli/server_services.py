"""``sluice server services``: run one background service of the API server on its own.

``sluice server start`` runs every service inside the API process; these commands run one alone, for
a deployment that keeps the API replicas free of background work (run the scheduler on one or more
other hosts: several schedulers on one database never create a run twice).
"""

from __future__ import annotations

import typer

app = typer.Typer(help="Run one background service (scheduler, late runs) on its own.", no_args_is_help=True)


def run_service(name: str, once: bool) -> None:
    """Run the registered service called ``name`` until SIGINT/SIGTERM (or one loop with ``once``)."""
    import asyncio
    import signal

    from sluice.errors import ConfigurationError
    from sluice.server.database.engine import get_database
    from sluice.server.database.migrate import upgrade_database
    from sluice.server.services import build_service, registered_services
    from sluice.settings import get_settings

    classes = {cls.name: cls for cls in registered_services()}
    if name not in classes:
        raise ConfigurationError(f"unknown service {name!r} (known: {', '.join(sorted(classes))})")
    settings = get_settings()
    database = get_database(settings.effective_database_url, settings)
    upgrade_database(database)
    service = build_service(classes[name], database, settings)

    async def main() -> None:
        if once:
            await service.run_once()
            return
        loop = asyncio.get_running_loop()
        task = service.start()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, lambda: asyncio.ensure_future(service.stop()))
        await task

    if not once:
        typer.echo(f"Running the {name} service every {service.loop_seconds}s (Ctrl-C to stop).", err=True)
    asyncio.run(main())


@app.command("scheduler")
def scheduler(once: bool = typer.Option(False, "--once", help="Run one loop and exit.")) -> None:
    """Create the next runs of every active schedule, every SLUICE_SCHEDULER_LOOP_SECONDS."""
    from sluice.cli.deployment_helpers import cli_errors

    with cli_errors():
        run_service("scheduler", once)


@app.command("late-runs")
def late_runs(once: bool = typer.Option(False, "--once", help="Run one loop and exit.")) -> None:
    """Mark overdue runs Late and cancel those past their deployment's max_lateness."""
    from sluice.cli.deployment_helpers import cli_errors

    with cli_errors():
        run_service("late_runs", once)
