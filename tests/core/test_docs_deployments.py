"""docs/cli.md documents every ``sluice deployment`` command of this module with all of its options."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer.main

from sluice.cli import deployment

DOCS = Path(__file__).resolve().parents[2] / "docs"
COMMANDS = [
    "build", "apply", "create", "ls", "inspect", "run", "execute", "preview", "delete",
    "set-schedule", "pause-schedule", "resume-schedule", "clear-schedule",
]  # fmt: skip


def click_command(name: str) -> object:
    group = typer.main.get_command(deployment.app)
    return group.commands[name]  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", COMMANDS)
def test_every_deployment_command_and_option_is_in_cli_md(name: str) -> None:
    text = (DOCS / "cli.md").read_text()
    assert f"sluice deployment {name}" in text
    for parameter in click_command(name).params:  # type: ignore[attr-defined]
        for flag in parameter.opts:
            if flag.startswith("-") and flag != "--help":
                assert f"{flag}" in text, f"{flag} of `sluice deployment {name}` is not in docs/cli.md"


def test_deployments_md_covers_every_command() -> None:
    text = (DOCS / "deployments.md").read_text()
    for name in COMMANDS:
        assert f"`{name}" in text or f"{name} " in text, name
