"""Turning exceptions into one-line messages and exit codes, and warnings into one-line notes, at the CLI edge."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import typer

from sluice.errors import SluiceError


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``message`` on stderr as one line and return the ``typer.Exit`` to raise."""
    typer.echo(f"Error: {message}", err=True)
    return typer.Exit(code)


def show_plugin_warnings_on_one_line() -> None:
    """Print each ``PluginLoadWarning`` as ``Warning: …`` on one stderr line, once per message.

    Python's own format adds the file, line and source of the ``warnings.warn`` call, which mean
    nothing to a user; other warnings keep it.
    """
    import warnings

    from sluice.plugins import PluginLoadWarning

    original = warnings.showwarning

    def show(
        message: Any, category: type[Warning], filename: str, lineno: int, file: Any = None, line: Any = None
    ) -> None:
        if issubclass(category, PluginLoadWarning):
            typer.echo(f"Warning: {message}", err=True)
        else:
            original(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    warnings.filterwarnings("default", category=PluginLoadWarning)


def run_with_clean_errors(build: Callable[[], typer.Typer]) -> int:
    """Build and run the CLI; a ``SluiceError`` (or an unexpected error) becomes one line on stderr."""
    try:
        app = build()
        # with standalone_mode=False, click returns the code of a `typer.Exit` instead of raising it
        result = app(standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        typer.echo("Aborted.", err=True)
        return 1
    except KeyboardInterrupt:
        typer.echo("Interrupted.", err=True)
        return 130
    except SluiceError as exc:
        typer.echo(f"Error: {exc}", err=True)
        return 1
    except Exception as exc:  # the last line of defence: never a traceback to a user
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            return exc.exit_code
        if isinstance(exc, click.exceptions.Exit):
            return exc.exit_code
        typer.echo(f"Error: unexpected {type(exc).__name__}: {exc}", err=True)
        if "SLUICE_DEBUG" in os.environ:
            raise
        return 1
    return result if isinstance(result, int) else 0
