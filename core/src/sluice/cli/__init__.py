"""The ``sluice`` command line: built by ``build_app()``, run by ``main()``.

Each core command group lives in its own module and is added here; plugins add theirs through the
``register_commands`` hook, one plugin at a time (a broken one adds nothing and is reported). Command
modules import their heavy dependencies inside the commands so that ``sluice --help`` stays fast.
"""

from __future__ import annotations

import sys

import typer

from sluice import __version__


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"sluice {__version__}")
        raise typer.Exit()


def build_app() -> typer.Typer:
    """Build the CLI: the core command groups, then every plugin's through ``register_commands``."""
    from sluice.cli import agent, block, config, deployment, flow_run, plugins, server, work_queue
    from sluice.cli.plugin_commands import CommandStage
    from sluice.plugins import get_plugin_manager

    app = typer.Typer(
        name="sluice",
        help="Sluice: deploy Python flows and run them on schedules, anywhere.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )

    @app.callback()
    def root(
        version: bool = typer.Option(
            False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
        ),
    ) -> None:
        """Sluice: deploy Python flows and run them on schedules, anywhere."""

    app.add_typer(plugins.app, name="plugins")
    app.add_typer(config.app, name="config")
    app.add_typer(server.app, name="server")
    app.add_typer(deployment.app, name="deployment")
    app.add_typer(work_queue.app, name="work-queue")
    app.add_typer(agent.app, name="agent")
    app.add_typer(flow_run.app, name="flow-run")
    app.add_typer(block.app, name="block")
    get_plugin_manager().call_hook("register_commands", stage=lambda: CommandStage(app), app=app)
    return app


def main() -> None:
    """Entry point of the ``sluice`` console script: one-line errors and warnings, never a traceback."""
    from sluice.cli.errors import run_with_clean_errors, show_plugin_warnings_on_one_line
    from sluice.startup import skip_httpx_command_line

    skip_httpx_command_line()
    show_plugin_warnings_on_one_line()
    sys.exit(run_with_clean_errors(build_app))
