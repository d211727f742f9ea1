"""``sluice config``: the settings in force."""

from __future__ import annotations

import json

import typer

app = typer.Typer(help="View Sluice settings.", no_args_is_help=True)


@app.command("view")
def view(
    show_secrets: bool = typer.Option(False, "--show-secrets", help="Show secret values in clear."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show every setting with its value and where it comes from (environment or default)."""
    import os

    from pydantic import SecretStr

    from sluice.settings import Settings, get_settings

    settings = get_settings()
    rows = []
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            value = value.get_secret_value() if show_secrets else "********"
        env_name = f"SLUICE_{name.upper()}"
        source = "env" if env_name in os.environ else "default"
        rows.append({"setting": env_name, "value": None if value is None else str(value), "source": source})
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        typer.echo(f"{row['setting']}={row['value'] if row['value'] is not None else ''}  ({row['source']})")
