"""Hearing other processes' changes: the listener threads of a ``ChangeFeed``.

- ``PostgresListener``: a thread with a connection of its own that ``LISTEN``s on ``sluice_work``
  and publishes what each notification describes; it reconnects after errors, and after each
  (re)connection publishes an incomplete change (anything sent while it was not listening).
- ``SqliteWatcher``: a thread that reads ``PRAGMA data_version`` while someone waits; it changes
  when another connection, in any process, commits to the file (the embedded CLI creating a run).

Both start on first need (``ensure_started``) and are daemon threads, so a slow end never holds up
an exit.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from typing import Any

from sqlalchemy.engine import make_url

from sluice.queues import WorkChanges
from sluice.server.database.change_feed import CHANNEL, ChangeFeed, changes_from_payload, payload_token

logger = logging.getLogger("sluice.server")

#: Published when a listener cannot say what changed: every subscriber should look again.
SOMETHING_CHANGED = WorkChanges(may_have_work=True, complete=False, local=False)


def listener_for(feed: ChangeFeed) -> _Listener | None:
    """The listener for the feed's database: PostgreSQL or a SQLite file (None for in-memory SQLite)."""
    database = feed.database
    if database.dialect_name == "postgresql":
        return PostgresListener(feed, database.url)
    if database.is_sqlite:
        path = make_url(database.url).database
        if path and path != ":memory:":
            return SqliteWatcher(feed, path)
    return None


class _Listener(ABC):
    """A daemon thread started on first need, stopped by ``close``."""

    name = "listener"

    def __init__(self, feed: ChangeFeed) -> None:
        self.feed = feed
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def ensure_started(self) -> None:
        """Start the thread unless it runs already."""
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._loop, name=f"sluice-{self.name}", daemon=True)
                self._thread.start()

    def close(self) -> None:
        """Ask the thread to end."""
        self._stop.set()

    @abstractmethod
    def _loop(self) -> None:
        """Listen until ``close``; each subclass listens its own way."""


class PostgresListener(_Listener):
    """``LISTEN sluice_work`` on a connection of its own; reconnects after errors."""

    name = "queue-listen"

    def __init__(self, feed: ChangeFeed, url: str) -> None:
        super().__init__(feed)
        self._conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)

    def _loop(self) -> None:
        import psycopg

        delay = 0.5
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    self.feed.publish(SOMETHING_CHANGED)  # anything sent while we were not listening
                    delay = 0.5
                    while not self._stop.is_set():
                        for notification in connection.notifies(timeout=1.0):
                            if payload_token(notification.payload) != self.feed.token:
                                self.feed.publish(changes_from_payload(notification.payload))
            except Exception as exc:
                if "does not exist" in str(exc):
                    return  # the database was dropped: nothing left to listen to
                logger.warning("LISTEN %s failed (%s); retrying in %.1fs", CHANNEL, exc, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, 10.0)


class SqliteWatcher(_Listener):
    """Polls ``PRAGMA data_version`` (a cheap read) while someone waits; stops 30 s after the last."""

    name = "queue-sqlite-watch"
    interval = 0.05
    idle_seconds = 30.0

    def __init__(self, feed: ChangeFeed, path: str) -> None:
        super().__init__(feed)
        self._path = path

    def _loop(self) -> None:
        try:
            connection = sqlite3.connect(self._path, check_same_thread=False, timeout=5)
        except sqlite3.Error as exc:
            logger.warning("cannot watch %s for changes: %s", self._path, exc)
            return
        try:
            self._watch(connection)
        finally:
            connection.close()

    def _watch(self, connection: Any) -> None:
        last = None
        idle_since = time.monotonic()
        while not self._stop.is_set():
            if self.feed.waiting:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > self.idle_seconds:
                return  # nobody waits: stop; the next wait starts the thread again
            try:
                version = connection.execute("PRAGMA data_version").fetchone()[0]
            except sqlite3.Error:
                version = last
            if last is not None and version != last:
                self.feed.publish(SOMETHING_CHANGED)
            last = version
            self._stop.wait(self.interval)
