"""docs/cli.md must document every command of the CLI, plugin commands included."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from typer.main import get_command

from sluice.cli import build_app

DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def command_paths(command: Any, prefix: list[str]) -> Iterator[str]:
    """Every leaf command as ``sluice group command``."""
    subcommands = getattr(command, "commands", None)
    if not subcommands:
        yield " ".join(prefix)
        return
    for name, sub in subcommands.items():
        yield from command_paths(sub, [*prefix, name])


def test_every_command_is_documented_in_cli_md() -> None:
    documented = DOCS.read_text()
    missing = [path for path in command_paths(get_command(build_app()), ["sluice"]) if path not in documented]
    assert missing == []
