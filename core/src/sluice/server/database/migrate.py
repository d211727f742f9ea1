"""Schema migrations, run in-process: ``upgrade_database`` at server start, ``reset_database`` on demand.

``HEAD_REVISION`` names the newest migration; a database already there is recognised with one query
and alembic is not even imported, which keeps server start-up and the embedded client fast.
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Connection, text

from sluice.server.database.engine import Database

#: The newest revision in ``migrations/versions`` (a test keeps it in step with the scripts).
HEAD_REVISION = "0003"

_current: set[str] = set()
_lock = threading.Lock()


def _alembic_config(connection: Connection) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "sluice.server.database:migrations")
    config.attributes["connection"] = connection
    return config


def current_revision(database: Database) -> str | None:
    """The revision the database is at, or None when it has never been migrated."""
    try:
        with database.read_session() as session:
            return session.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception:  # no alembic_version table yet (the error type differs by driver)
        return None


def upgrade_database(database: Database, force: bool = False) -> None:
    """Bring the schema to the newest revision; cheap when it is there already.

    An empty database gets the tables straight from the metadata and is stamped with the head
    revision (what the migrations would build, without importing alembic); a test checks the two
    agree. Any other database goes through alembic.
    """
    if not force and database.url in _current:
        return
    with _lock:
        if (force or current_revision(database) != HEAD_REVISION) and not _create_if_empty(database):
            from alembic import command

            with database.engine.connect() as connection:
                command.upgrade(_alembic_config(connection), "head")
                connection.commit()
        _current.add(database.url)


def _create_if_empty(database: Database) -> bool:
    """Create the schema in one locked transaction if the database has no table yet; True if done."""
    from sqlalchemy import inspect
    from sqlmodel import SQLModel

    import sluice.server.database.tables  # noqa: F401

    with database.engine.begin() as connection:  # SQLite: BEGIN IMMEDIATE serialises replicas
        if connection.dialect.name == "postgresql":
            from sluice.server.database.migrations.env_lock import MIGRATION_LOCK_ID

            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})")
        if inspect(connection).get_table_names():
            return False
        SQLModel.metadata.create_all(connection)
        connection.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)"))
        connection.execute(text("INSERT INTO alembic_version (version_num) VALUES (:head)"), {"head": HEAD_REVISION})
    return True


def reset_database(database: Database) -> None:
    """Drop every table (all data is lost) and create the schema again."""
    from sqlmodel import SQLModel

    import sluice.server.database.tables  # noqa: F401

    with database.engine.begin() as connection:
        SQLModel.metadata.drop_all(connection)
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    _current.discard(database.url)
    upgrade_database(database, force=True)


def head_revision_of_scripts() -> str | None:
    """The head revision according to the migration scripts (slow: imports alembic)."""
    from alembic.script import ScriptDirectory

    from sluice.server.database import migrations

    return ScriptDirectory(migrations.__path__[0]).get_current_head()
