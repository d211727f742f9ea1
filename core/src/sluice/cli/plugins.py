"""``sluice plugins``: what is installed and what it provides."""

from __future__ import annotations

import json

import typer

app = typer.Typer(help="Inspect installed plugins.", no_args_is_help=True)


@app.command("ls")
def list_plugins(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List installed plugins: distribution, version, hooks implemented and slugs provided.

    A plugin that failed to import is listed with its error.
    """
    from sluice.plugins import get_plugin_manager

    plugins = get_plugin_manager().plugins()
    if as_json:
        typer.echo(json.dumps([plugin.to_dict() for plugin in plugins], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Plugins")
    for column in ("Plugin", "Distribution", "Version", "Hooks", "Provides"):
        table.add_column(column)
    for plugin in plugins:
        provides = ", ".join(f"{kind}: {', '.join(slugs)}" for kind, slugs in plugin.slugs.items())
        hooks = ", ".join(plugin.hooks) if plugin.error is None else f"[red]failed: {plugin.error}[/red]"
        table.add_row(plugin.name, plugin.distribution, plugin.version, hooks, provides)
    Console().print(table)
