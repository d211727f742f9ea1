"""Adding the plugins' commands to the CLI one plugin at a time, so that a broken one changes nothing.

``build_app`` hands the plugin manager a ``CommandStage`` per plugin: a snapshot of the root Typer
app taken before that plugin's ``register_commands`` runs. If the plugin raises, adds a command
Typer cannot build, or takes a name the CLI already has, the stage removes what it added.
"""

from __future__ import annotations

from typing import Any

import typer


def _names(commands: list[Any], groups: list[Any]) -> set[str]:
    """The names the CLI shows for these registered commands and groups (those that can be told)."""
    from typer.main import get_command_name

    names = {info.name or get_command_name(info.callback.__name__) for info in commands if info.callback}
    for info in groups:
        name = info.name  # typer keeps an unset name as a placeholder object, not a string
        if not isinstance(name, str) and info.typer_instance is not None:
            name = info.typer_instance.info.name
        if isinstance(name, str):
            names.add(name)
    return names


class CommandStage:
    """What one plugin's ``register_commands`` added to ``app``: checked, and removable."""

    def __init__(self, app: typer.Typer) -> None:
        self.app = app
        self._commands = len(app.registered_commands)
        self._groups = len(app.registered_groups)
        self._callback = app.registered_callback

    def check(self) -> str | None:
        """Why the plugin's additions cannot be kept, or None."""
        commands = self.app.registered_commands[self._commands :]
        groups = self.app.registered_groups[self._groups :]
        if self.app.registered_callback is not self._callback:
            return "it replaced the root command's callback"
        if not commands and not groups:
            return None
        probe = typer.Typer()
        probe.registered_commands = list(commands)
        probe.registered_groups = list(groups)
        try:
            # Typer turns functions into click commands only when the CLI runs; do it now for this
            # plugin alone, so a parameter it cannot handle refuses the plugin instead of every command.
            added = set(typer.main.get_group(probe).commands)
        except Exception as exc:
            return f"it added commands that cannot be built ({type(exc).__name__}: {exc})"
        existing = _names(self.app.registered_commands[: self._commands], self.app.registered_groups[: self._groups])
        taken = sorted(added & existing)
        if taken:
            return f"a command {taken[0]!r} already exists"
        return None

    def undo(self) -> None:
        """Remove every command and group added since the stage was made."""
        del self.app.registered_commands[self._commands :]
        del self.app.registered_groups[self._groups :]
        self.app.registered_callback = self._callback
