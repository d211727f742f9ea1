"""Pytest fixtures for plugin authors, installed through the ``pytest11`` entry point.

- ``sluice_plugin_manager``: a fresh plugin manager with no entry points loaded (only the core's
  built-in ``core-services``), made the process-wide one for the test; register your plugin on it
  with ``.register(plugin)``, which returns its ``PluginInfo`` (a refused plugin is not raised).
- ``sluice_cli``: a function that runs the ``sluice`` CLI in-process and returns the result.
- ``sluice_api``: an embedded API on a fresh SQLite database in a temporary ``SLUICE_HOME``, made
  the one ``get_client()`` (hence ``Block.save``/``load`` and ``@flow``) talks to during the test:
  ``sluice_api.client`` is a ``SluiceClient``, ``sluice_api.app`` the FastAPI app. The embedded app
  serves the core ``/api`` only; ``sluice_api.http`` is an httpx client of the full server app
  (``create_app``: ``/api`` and every plugin route), built on first use with the plugin manager in
  force then, on the same database.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
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
    """What the ``sluice_api`` fixture gives: the app, a client, the settings and the database URL,
    and ``http``, a client of the full server app with the plugins' routes."""

    app: Any
    client: Any
    settings: Any
    database_url: str
    _http: Any = field(default=None, repr=False)

    @property
    def http(self) -> Any:
        """An ``httpx.Client`` (a Starlette ``TestClient``, base URL ``http://testserver``) of the app
        ``create_app`` builds for these settings — the core ``/api`` and every plugin's routes — with
        no background services. Built on first use, so a plugin registered on
        ``sluice_plugin_manager`` before that is served."""
        if self._http is None:
            from fastapi.testclient import TestClient

            from sluice.server.app import create_app

            self._http = TestClient(create_app(self.settings, run_services=False))
            self._http.__enter__()  # runs the app's lifespan: the schema upgrade, as a server does
        return self._http

    def close(self) -> None:
        """Stop the full app, if it was started."""
        if self._http is not None:
            self._http.__exit__(None, None, None)
            self._http = None


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
    api = None
    try:
        with SluiceClient(settings=settings) as client:
            api = SluiceAPI(app=app, client=client, settings=settings, database_url=database_url)
            yield api
    finally:
        if api is not None:
            api.close()
        forget_embedded_app(settings)
