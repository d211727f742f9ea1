"""Schema migrations (server/database/migrate.py and migrations/)."""

from __future__ import annotations

import secrets

import pytest
from sqlalchemy import inspect, text

from sluice.server.database.engine import Database, forget_database
from sluice.server.database.migrate import (
    HEAD_REVISION,
    _alembic_config,
    current_revision,
    head_revision_of_scripts,
    reset_database,
    upgrade_database,
)


def test_head_revision_constant_matches_the_scripts():
    assert head_revision_of_scripts() == HEAD_REVISION


def _schema_differences(database: Database) -> list:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    with database.engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)


def _run_alembic(database: Database) -> None:
    from alembic import command

    with database.engine.connect() as connection:
        command.upgrade(_alembic_config(connection), "head")
        connection.commit()


def test_migrations_build_exactly_the_tables_on_sqlite(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'migrated.db'}")
    _run_alembic(database)
    assert current_revision(database) == HEAD_REVISION
    assert _schema_differences(database) == []


def test_migrations_build_exactly_the_tables_on_postgres(postgres_server):
    if postgres_server is None:
        from tests.conftest import require_service

        require_service("postgresql", "no PostgreSQL server at 127.0.0.1:5432")
    import psycopg

    name = f"sluice_migrate_{secrets.token_hex(4)}"
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = postgres_server.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}"
    database = Database(url)
    try:
        _run_alembic(database)
        assert current_revision(database) == HEAD_REVISION
        assert _schema_differences(database) == []
    finally:
        database.dispose()
        with psycopg.connect(postgres_server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_migration_0003_keeps_runs_and_logs_and_adds_task_runs(tmp_path):
    """A database at 0002 with a run and a log: after the upgrade both are there, without task runs."""
    from alembic import command

    database = Database(f"sqlite:///{tmp_path / 'at-0002.db'}")
    with database.engine.connect() as connection:
        command.upgrade(_alembic_config(connection), "0002")
        connection.commit()
    with database.engine.begin() as connection:
        for statement in (
            "INSERT INTO flow (id, created, updated, name, tags) VALUES ('00000000000000000000000000000001', "
            "'2026-01-01', '2026-01-01', 'f', '[]')",
            "INSERT INTO flow_run (id, created, updated, name, flow_id, parameters, tags, run_count, auto_scheduled) "
            "VALUES ('00000000000000000000000000000002', '2026-01-01', '2026-01-01', 'r', "
            "'00000000000000000000000000000001', '{}', '[]', 0, 0)",
            "INSERT INTO log (flow_run_id, level, name, message, timestamp, created) VALUES "
            "('00000000000000000000000000000002', 20, 'x', 'kept', '2026-01-01', '2026-01-01')",
        ):
            connection.execute(text(statement))
    with database.engine.connect() as connection:
        command.upgrade(_alembic_config(connection), "0003")
        connection.commit()
    assert current_revision(database) == "0003"
    with database.engine.connect() as connection:
        assert connection.execute(text("SELECT parent_task_run_id FROM flow_run")).scalar() is None
        assert connection.execute(text("SELECT message, task_run_id FROM log")).one() == ("kept", None)
        assert connection.execute(text("SELECT count(*) FROM task_run")).scalar() == 0
    database.dispose()


def test_upgrade_of_an_empty_database_matches_the_migrations(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'fresh.db'}")
    upgrade_database(database)
    assert current_revision(database) == HEAD_REVISION
    assert _schema_differences(database) == []


def test_upgrade_again_keeps_the_data(database_url, client):
    from sluice.server.database.engine import get_database

    client.create_flow("kept")
    upgrade_database(get_database(database_url), force=True)
    assert client.read_flow_by_name("kept").name == "kept"


def test_reset_drops_the_data_and_rebuilds_the_schema(tmp_path):
    url = f"sqlite:///{tmp_path / 'reset.db'}"
    database = Database(url)
    upgrade_database(database)
    with database.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO work_queue (id, created, updated, name, is_paused, priority) "
                "VALUES ('00000000000000000000000000000001', '2026-01-01', '2026-01-01', 'q', 0, 1)"
            )
        )
    reset_database(database)
    with database.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM work_queue")).scalar() == 0
    assert "flow_run" in inspect(database.engine).get_table_names()
    forget_database(url)


@pytest.mark.parametrize("pragma, expected", [("journal_mode", "wal"), ("foreign_keys", 1)])
def test_sqlite_connections_are_tuned(tmp_path, pragma, expected):
    database = Database(f"sqlite:///{tmp_path / 'tuned.db'}")
    with database.engine.connect() as connection:
        assert connection.exec_driver_sql(f"PRAGMA {pragma}").scalar() == expected


def test_concurrent_sqlite_writers_do_not_fail(tmp_path):
    """Writes take BEGIN IMMEDIATE: many threads inserting at once never see 'database is locked'."""
    from concurrent.futures import ThreadPoolExecutor

    database = Database(f"sqlite:///{tmp_path / 'busy.db'}")
    upgrade_database(database)

    def write(i: int) -> None:
        with database.session() as session:
            session.execute(text("SELECT count(*) FROM flow")).scalar()  # read first: the lock-upgrade case
            session.execute(
                text("INSERT INTO flow (id, created, updated, name, tags) VALUES (:id, :t, :t, :name, '[]')"),
                {"id": secrets.token_hex(16), "t": "2026-01-01", "name": f"flow-{i}"},
            )
            session.commit()

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(write, range(200)))
    with database.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM flow")).scalar() == 200
