"""Fixtures of the API suite: every test runs once on SQLite and once on PostgreSQL.

One database per test session and kind (a SQLite file; a fresh ``sluice_test_<random>`` PostgreSQL
database, dropped at the end); every table is emptied before each test. PostgreSQL is the service at
127.0.0.1:5432 (trust auth, user ``postgres`` or ``root``, database ``test``); when it is not there
the PostgreSQL half skips on a laptop and fails in CI (``require_service``).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import require_service

POSTGRES_ADMIN_URLS = (
    "postgresql://postgres@127.0.0.1:5432/test",
    "postgresql://root@127.0.0.1:5432/test",
)


def _postgres_admin() -> tuple[Any, str] | None:
    import psycopg

    for url in POSTGRES_ADMIN_URLS:
        try:
            return psycopg.connect(url, autocommit=True, connect_timeout=3), url
        except psycopg.OperationalError:
            continue
    return None


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str | None]:
    """The admin URL of the PostgreSQL service, or None when it is unreachable."""
    found = _postgres_admin()
    if found is None:
        yield None
        return
    connection, url = found
    connection.close()
    yield url


@pytest.fixture(scope="session")
def _database_urls(tmp_path_factory: pytest.TempPathFactory, postgres_server: str | None) -> Iterator[dict[str, str]]:
    urls = {"sqlite": f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'sluice.db'}"}
    created = None
    if postgres_server is not None:
        import psycopg

        name = f"sluice_test_{secrets.token_hex(6)}"
        with psycopg.connect(postgres_server, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        created = name
        server = postgres_server.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
        urls["postgres"] = f"{server}/{name}"
    yield urls
    if created is not None:
        from sluice.server.database.engine import forget_database

        forget_database(urls["postgres"])
        import psycopg

        with psycopg.connect(postgres_server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{created}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, _database_urls: dict[str, str]) -> Iterator[str]:
    """The URL of an empty, migrated database: SQLite, then PostgreSQL."""
    if request.param not in _database_urls:
        require_service("postgresql", "no PostgreSQL server answers at 127.0.0.1:5432 as postgres or root")
    url = _database_urls[request.param]
    from sluice.server.database.engine import get_database
    from sluice.server.database.migrate import upgrade_database

    database = get_database(url)
    upgrade_database(database)
    empty_database(database)
    yield url


def empty_database(database: Any) -> None:
    """Delete every row of every table."""
    from sqlalchemy import text

    from sluice.server.database.tables import ALL_TABLES

    names = [table.__tablename__ for table in ALL_TABLES]
    with database.engine.begin() as connection:
        if database.is_sqlite:
            for name in names:
                connection.execute(text(f'DELETE FROM "{name}"'))
        else:
            connection.execute(text("TRUNCATE " + ", ".join(f'"{name}"' for name in names) + " CASCADE"))


@pytest.fixture
def settings(database_url: str, isolated_sluice_home: Path) -> Any:
    """Settings pointing at the test database, with no API key."""
    from sluice.settings import Settings

    return Settings(home=isolated_sluice_home, database_url=database_url)


@pytest.fixture
def app(settings: Any, sluice_plugin_manager: Any) -> Any:
    """A fresh API app on the test database (no plugin routes, no background services)."""
    from sluice.server.app import create_app

    return create_app(settings, run_services=False)


@pytest.fixture
def api(app: Any) -> Iterator[httpx.Client]:
    """Raw HTTP to the app: ``api.post("/api/flows/", json=...)``."""
    from sluice.embedded import EmbeddedTransport

    with httpx.Client(transport=EmbeddedTransport(app, timeout=60), base_url="http://test") as client:
        yield client


@pytest.fixture
def client(app: Any, settings: Any) -> Iterator[Any]:
    """A ``SluiceClient`` talking to the app."""
    from sluice.client import SluiceClient
    from sluice.embedded import EmbeddedTransport

    with SluiceClient(settings=settings, transport=EmbeddedTransport(app, timeout=60)) as sluice_client:
        yield sluice_client


@pytest.fixture
def flow(client: Any) -> Any:
    """A flow named ``etl``."""
    return client.create_flow("etl")


@pytest.fixture
def deployment(client: Any, flow: Any) -> Any:
    """The deployment ``etl/nightly`` with a parameter schema (``rows``: int, required; ``mode``: str)."""
    schema = {
        "title": "Parameters",
        "type": "object",
        "properties": {"rows": {"type": "integer"}, "mode": {"type": "string", "default": "full"}},
        "required": ["rows"],
    }
    return client.create_deployment(
        "nightly",
        flow.id,
        parameters={"rows": 10},
        parameter_openapi_schema=schema,
        tags=["etl", "nightly"],
        work_queue_name="etl-queue",
    )
