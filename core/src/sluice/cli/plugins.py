"""``sluice plugins``: what is installed and what it provides."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:  # pragma: no cover
    from sluice.plugins import PluginManager

app = typer.Typer(help="Inspect installed plugins.", no_args_is_help=True)


@app.command("ls")
def list_plugins(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List installed plugins: distribution, version, status, hooks implemented and slugs provided.

    A broken plugin (it failed to import, was refused, or failed in a hook) is listed with its errors.
    """
    from sluice.plugins import get_plugin_manager

    manager = get_plugin_manager()
    _try_register_routes(manager)
    plugins = manager.plugins()
    if as_json:
        typer.echo(json.dumps([plugin.to_dict() for plugin in plugins], indent=2))
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title="Plugins")
    table.add_column("Plugin")
    table.add_column("Distribution", no_wrap=True)
    for column in ("Version", "Status", "Hooks", "Provides"):
        table.add_column(column)
    for plugin in plugins:
        provides = ", ".join(f"{kind}: {', '.join(slugs)}" for kind, slugs in plugin.slugs.items())
        status = Text(plugin.status, style="green" if plugin.status == "ok" else "red")
        table.add_row(plugin.name, plugin.distribution, plugin.version, status, ", ".join(plugin.hooks), provides)
    console = Console()
    console.print(table)
    for plugin in plugins:
        for error in plugin.errors:  # Text: a bracket in an error message is not rich markup
            console.print(Text(f"{plugin.name} ({plugin.distribution} {plugin.version}): {error}", style="red"))


def _try_register_routes(manager: PluginManager) -> None:
    """Call ``register_routes`` on a bare app, so a plugin failing there is listed like the others
    (the server calls it only when it starts)."""
    from fastapi import FastAPI

    from sluice.server.app import RouteStage

    app = FastAPI()
    manager.call_hook("register_routes", stage=lambda: RouteStage(app), app=app)
