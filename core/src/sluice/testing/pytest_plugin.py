"""Pytest fixtures for plugin authors, installed through the ``pytest11`` entry point.

- ``sluice_plugin_manager``: a fresh plugin manager with no entry points loaded, made the
  process-wide one for the test; register your plugin on it with ``.register(plugin)``.
- ``sluice_cli``: a function that runs the ``sluice`` CLI in-process and returns the result.
- ``sluice_api``: an embedded API on a fresh SQLite database in a temporary ``SLUICE_HOME``, made
  the one ``get_client()`` (hence ``Block.save``/``load`` and ``@flow``) talks to during the test:
  ``sluice_api.client`` is a ``SluiceClient``, ``sluice_api.app`` the FastAPI app.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
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


@dataclass
class SluiceAPI:
    """What the ``sluice_api`` fixture gives: the app, a client, the settings and the database URL."""

    app: Any
    client: Any
    settings: Any
    database_url: str


@pytest.fixture
def sluice_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SluiceAPI]:
    """An embedded API on a fresh SQLite database, used by every ``get_client()`` during the test."""
    from sluice.client import SluiceClient
    from sluice.embedded import embedded_app, forget_embedded_app
    from sluice.settings import get_settings

    home = tmp_path / "sluice-api-home"
    database_url = f"sqlite:///{home / 'sluice.db'}"
    monkeypatch.setenv("SLUICE_HOME", str(home))
    monkeypatch.setenv("SLUICE_DATABASE_URL", database_url)
    for name in ("SLUICE_API_URL", "SLUICE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    settings = get_settings()
    app = embedded_app(settings)
    try:
        with SluiceClient(settings=settings) as client:
            yield SluiceAPI(app=app, client=client, settings=settings, database_url=database_url)
    finally:
        forget_embedded_app(settings)
