"""The server's database: tables, engines and sessions, and the alembic migrations."""

from __future__ import annotations

from sluice.server.database.engine import Database, get_database

__all__ = ["Database", "get_database"]
