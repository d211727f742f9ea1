"""Pytest fixtures for plugin authors, installed through the ``pytest11`` entry point.

- ``sluice_plugin_manager``: a fresh plugin manager with no entry points loaded, made the
  process-wide one for the test; register your plugin on it with ``.register(plugin)``.
- ``sluice_cli``: a function that runs the ``sluice`` CLI in-process and returns the result.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture
def sluice_plugin_manager() -> Iterator[Any]:
    """A fresh ``PluginManager`` without entry points, in force for the duration of the test."""
    from sluice.plugins import PluginManager, use_plugin_manager

    manager = PluginManager(load_entry_points=False)
    with use_plugin_manager(manager):
        yield manager


@pytest.fixture
def sluice_cli() -> Any:
    """Run the CLI in-process: ``sluice_cli("plugins", "ls", "--json")`` returns a Click ``Result``."""
    from typer.testing import CliRunner

    from sluice.cli import build_app

    def invoke(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Any:
        return CliRunner().invoke(build_app(), list(args), input=input, env=env, catch_exceptions=False)

    return invoke
