"""Engines and sessions, one ``Database`` per URL per process.

SQLite is tuned for a server: WAL (readers never wait for the writer), a busy timeout, foreign keys
on, and every write transaction opened with ``BEGIN IMMEDIATE``. A deferred ``BEGIN`` that later
writes can fail at once with "database is locked" when another connection wrote in between (the
lock upgrade cannot wait); taking the write lock up front makes writers queue on the busy timeout
instead. Read-only sessions keep a plain ``BEGIN`` so that reads run alongside a writer.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from sluice.server.database.types import load_stored_json
from sluice.server.private_files import create_private_file, make_private_folder
from sluice.settings import Settings, get_settings

#: Execution option marking a read-only connection (SQLite: deferred ``BEGIN``).
READ_ONLY = "sluice_read_only"


def normalise_url(url: str) -> str:
    """Use psycopg 3 for ``postgresql://`` URLs that name no driver."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


class Database:
    """An engine for one URL with its write and read-only session factories."""

    def __init__(self, url: str, settings: Settings | None = None) -> None:
        settings = settings or get_settings()
        self.url = normalise_url(url)
        parsed = make_url(self.url)
        self.dialect_name = parsed.get_backend_name()
        if self.dialect_name == "sqlite":
            self.engine = _sqlite_engine(self.url, settings)
        else:
            self.engine = create_engine(
                self.url,
                pool_size=settings.database_pool_size,
                max_overflow=settings.database_max_overflow,
                pool_recycle=1800,
                pool_pre_ping=True,
            )
        self._write_sessions = sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        self._read_sessions = sessionmaker(
            self.engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False, autoflush=False
        )

    @property
    def is_sqlite(self) -> bool:
        """True when the database is SQLite."""
        return self.dialect_name == "sqlite"

    def session(self) -> Session:
        """A session for work that writes (SQLite: ``BEGIN IMMEDIATE``)."""
        return self._write_sessions()

    def read_session(self) -> Session:
        """A session that only reads (SQLite: a deferred ``BEGIN``, concurrent with writers)."""
        return self._read_sessions()

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def _sqlite_engine(url: str, settings: Settings) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        path = Path(database).expanduser()
        make_private_folder(path.parent)
        create_private_file(path)  # before SQLite creates it with the umask's mode, readable by all
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": settings.sqlite_busy_timeout},
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        json_deserializer=load_stored_json,
    )
    busy_ms = int(settings.sqlite_busy_timeout * 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below emit BEGIN instead of the sqlite3 module.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


_databases: dict[str, Database] = {}
_lock = threading.Lock()


def get_database(url: str | None = None, settings: Settings | None = None) -> Database:
    """The process-wide ``Database`` for ``url`` (default: the settings' database), made on first use."""
    settings = settings or get_settings()
    key = normalise_url(url or settings.effective_database_url)
    found = _databases.get(key)
    if found is not None:
        return found
    with _lock:
        found = _databases.get(key)
        if found is None:
            found = Database(key, settings)
            _databases[key] = found
    return found


def forget_database(url: str) -> None:
    """Dispose of and forget the cached ``Database`` for ``url`` (tests, ``database reset``)."""
    with _lock:
        found = _databases.pop(normalise_url(url), None)
    if found is not None:
        from sluice.server.database.change_feed import forget_feed

        forget_feed(found)  # its listener thread, if any, would hold a connection to a forgotten database
        found.dispose()
