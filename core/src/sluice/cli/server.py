"""``sluice server``: run the API server, and upgrade or reset its database."""

from __future__ import annotations

import typer

from sluice.cli import server_services

app = typer.Typer(help="Run the Sluice API server and manage its database.", no_args_is_help=True)
database_app = typer.Typer(help="Upgrade or reset the server's database.", no_args_is_help=True)
app.add_typer(database_app, name="database")
app.add_typer(server_services.app, name="services")


def _masked_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _server_class() -> type:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, except that SIGINT/SIGTERM end the process with status 0 after the clean
        shutdown instead of being raised again (which would report the process as killed), and stop
        the schedule computations running in worker threads (a costly preview would otherwise hold
        the graceful shutdown up until its budget ran out)."""

        def handle_exit(self, sig: int, frame: object) -> None:
            """Start the graceful shutdown and forget the signal, so that it is not raised again.

            The background services stop now, not after the open requests: while the server drains
            them it refuses new connections, and crash detection must not judge agents by heartbeats
            it refuses.
            """
            import threading

            from sluice.schedule_budget import stop_schedule_computations

            super().handle_exit(sig, frame)  # type: ignore[arg-type]
            self._captured_signals.clear()
            runner = getattr(getattr(self.config.app, "state", None), "service_runner", None)
            if runner is not None:
                runner.stop_soon()
            # From a thread of its own: a signal handler may run while this thread holds the lock
            # the watchdog stops computations under.
            threading.Thread(
                target=stop_schedule_computations, args=("the server is shutting down",), daemon=True
            ).start()

    return Server


@app.command("start")
def start(
    host: str | None = typer.Option(None, "--host", help="Address to listen on [default: SLUICE_SERVER_HOST]."),
    port: int | None = typer.Option(None, "--port", help="Port to listen on [default: SLUICE_SERVER_PORT]."),
    log_level: str | None = typer.Option(None, "--log-level", help="uvicorn log level [default: warning]."),
    services: bool = typer.Option(
        True, "--services/--no-services", help="Run the background services (scheduler…) in this process."
    ),
) -> None:
    """Start the API server (and its background services) until SIGINT or SIGTERM.

    The database schema is upgraded first. Several servers may share one PostgreSQL database.
    """
    import uvicorn

    from sluice.server.app import create_app
    from sluice.settings import get_settings

    settings = get_settings()
    host = host or settings.server_host
    port = settings.server_port if port is None else port
    api = create_app(settings, run_services=services)
    config = uvicorn.Config(
        api,
        host=host,
        port=port,
        log_level=(log_level or settings.server_log_level).lower(),
        access_log=False,
        lifespan="on",
        server_header=False,
    )
    address = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    typer.echo(f"Sluice API at {address}/api (docs at {address}/docs)", err=True)
    typer.echo(f"Database: {_masked_url(settings.effective_database_url)}", err=True)
    if settings.api_key is None:
        typer.echo("No SLUICE_API_KEY set: the API is open to anyone who can reach it.", err=True)
    server = _server_class()(config)
    server.run()  # uvicorn handles SIGINT/SIGTERM: stops accepting, finishes requests, runs the lifespan end
    if not server.started:
        from sluice.cli.errors import fail

        raise fail(f"the server could not start on {host}:{port} (see the message above)")


@database_app.command("upgrade")
def upgrade() -> None:
    """Create the database schema or bring it to the newest version."""
    from sluice.server.database.engine import get_database
    from sluice.server.database.migrate import current_revision, upgrade_database

    database = get_database()
    upgrade_database(database, force=True)
    typer.echo(f"Database {_masked_url(database.url)} is at revision {current_revision(database)}.")


@database_app.command("reset")
def reset(yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation.")) -> None:
    """Drop every table, with all data, and create the schema again."""
    from sluice.server.database.engine import get_database
    from sluice.server.database.migrate import reset_database

    database = get_database()
    if not yes:
        typer.confirm(f"Delete ALL data in {_masked_url(database.url)}?", abort=True)
    reset_database(database)
    typer.echo(f"Database {_masked_url(database.url)} was reset.")
