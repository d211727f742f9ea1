"""Alembic environment of the Sluice server, run programmatically by ``sluice.server.database.migrate``.

The connection comes from ``config.attributes["connection"]``. The whole upgrade is one transaction
that first takes a lock (a PostgreSQL advisory lock; SQLite's ``BEGIN IMMEDIATE``), so several
server replicas starting together upgrade the schema exactly once.
"""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import sluice.server.database.tables  # noqa: F401  (registers the tables on the metadata)
from sluice.server.database.migrations.env_lock import MIGRATION_LOCK_ID


def run_migrations() -> None:
    """Run the pending migrations on the connection the caller handed over."""
    connection = context.config.attributes["connection"]
    is_sqlite = connection.dialect.name == "sqlite"
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=is_sqlite,
        transactional_ddl=True,
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})")
        context.run_migrations()


run_migrations()
