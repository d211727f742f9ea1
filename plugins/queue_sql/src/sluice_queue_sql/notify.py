"""Waking long polls: who tells a waiting claim that there may be work.

- ``WorkNotifier``: a version counter and the asyncio waiters of one database in this process;
  ``notify()`` may be called from any thread.
- Session events: a transaction that wrote a SCHEDULED or final state (every new run writes one), or
  changed a work queue or a deployment, bumps the notifier of its database after commit; on
  PostgreSQL it also sends ``NOTIFY sluice_work`` inside the transaction, so every replica hears it
  exactly when the change is visible.
- ``PostgresListener``: a thread with its own connection that ``LISTEN``s and bumps the notifier.
- ``SqliteWatcher``: a thread that watches ``PRAGMA data_version`` while someone waits, so a run
  created by another process on the same SQLite file (the embedded CLI) wakes the server too.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
import uuid
from abc import ABC, abstractmethod
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

logger = logging.getLogger("sluice.queue_sql")

CHANNEL = "sluice_work"
#: State types whose arrival may make a run claimable (SCHEDULED) or free a concurrency slot.
WAKING_STATE_TYPES = frozenset({"SCHEDULED", "COMPLETED", "FAILED", "CANCELLED", "CRASHED"})
_WAKING_TABLES = frozenset({"work_queue", "deployment"})
_FLAG = "sluice_work_changed"


class WorkNotifier:
    """A version number plus the waiters of one database, safe across threads and event loops."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version = 0
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self.on_first_waiter: list[Any] = []
        #: Sent as the NOTIFY payload, so the listener skips this notifier's own echoes (its waiters
        #: were woken at commit already).
        self.token = uuid.uuid4().hex

    @property
    def version(self) -> int:
        """Changes on every ``notify``."""
        return self._version

    @property
    def waiting(self) -> int:
        """How many coroutines are waiting now."""
        return len(self._waiters)

    def notify(self) -> None:
        """Wake every waiter (from any thread)."""
        with self._lock:
            self._version += 1
            waiters = list(self._waiters)
        for loop, woken in waiters:
            try:
                loop.call_soon_threadsafe(woken.set)
            except RuntimeError:  # that loop is closed: its waiter is gone
                pass

    async def wait(self, timeout: float, since: int | None = None) -> None:
        """Return at the next ``notify`` (at once if the version already moved past ``since``) or after
        ``timeout`` seconds."""
        woken = asyncio.Event()
        entry = (asyncio.get_running_loop(), woken)
        with self._lock:
            if since is not None and since != self._version:
                return
            self._waiters.add(entry)
        for callback in self.on_first_waiter:
            callback()
        try:
            await asyncio.wait_for(woken.wait(), timeout=max(0.0, timeout))
        except TimeoutError:
            pass
        finally:
            with self._lock:
                self._waiters.discard(entry)


# -- session events ----------------------------------------------------------------------------

_notifiers: dict[int, WorkNotifier] = {}
_events_lock = threading.Lock()
_events_installed = False


def watch_engine(pool: Any, notifier: WorkNotifier) -> None:
    """Bump ``notifier`` after commits of sessions that use the engine of ``pool``."""
    global _events_installed
    with _events_lock:
        _notifiers[id(pool)] = notifier
        if not _events_installed:
            event.listen(Session, "do_orm_execute", _on_execute)
            event.listen(Session, "before_flush", _on_flush)
            event.listen(Session, "before_commit", _before_commit)
            event.listen(Session, "after_commit", _after_commit)
            event.listen(Session, "after_rollback", _after_rollback)
            _events_installed = True


def forget_engine(pool: Any) -> None:
    """Stop notifying for the engine of ``pool``."""
    with _events_lock:
        _notifiers.pop(id(pool), None)


def _notifier_of(session: Session) -> WorkNotifier | None:
    try:
        bind = session.get_bind()
    except Exception:
        return None
    return _notifiers.get(id(getattr(bind, "pool", None)))


def _on_execute(state: Any) -> None:
    statement = state.statement
    table = getattr(statement, "table", None)
    if not getattr(state, "is_insert", False) and not getattr(state, "is_update", False):
        return
    name = getattr(table, "name", None)
    if name in _WAKING_TABLES:
        state.session.info[_FLAG] = True
    elif name == "flow_run_state" and state.is_insert:
        parameters = state.parameters
        rows = parameters if isinstance(parameters, list) else [parameters or {}]
        compiled = getattr(statement, "_values", None) or {}
        if any(row.get("type") in WAKING_STATE_TYPES for row in rows) or compiled:
            state.session.info[_FLAG] = True


def _on_flush(session: Session, _context: Any, _instances: Any) -> None:
    for obj in [*session.new, *session.dirty]:
        name = getattr(getattr(obj, "__table__", None), "name", None)
        if name in _WAKING_TABLES or (name == "flow_run_state" and getattr(obj, "type", None) in WAKING_STATE_TYPES):
            session.info[_FLAG] = True
            return


def _before_commit(session: Session) -> None:
    if not session.info.get(_FLAG):
        return
    try:
        bind = session.get_bind()
    except Exception:
        return
    notifier = _notifier_of(session)
    if bind.dialect.name == "postgresql" and notifier is not None:
        session.execute(text(f"NOTIFY {CHANNEL}, '{notifier.token}'"))


def _after_commit(session: Session) -> None:
    if session.info.pop(_FLAG, False):
        notifier = _notifier_of(session)
        if notifier is not None:
            notifier.notify()


def _after_rollback(session: Session) -> None:
    session.info.pop(_FLAG, None)


# -- listeners ---------------------------------------------------------------------------------


class _Watcher(ABC):
    """A daemon thread started on first need, stopped by ``close``."""

    name = "watcher"

    def __init__(self, notifier: WorkNotifier) -> None:
        self.notifier = notifier
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
        """Ask the thread to end (it is a daemon: a slow end never holds up exit)."""
        self._stop.set()

    @abstractmethod
    def _loop(self) -> None:
        """Watch for work until ``close``; each subclass watches its own way."""


class PostgresListener(_Watcher):
    """``LISTEN sluice_work`` on a connection of its own; reconnects after errors."""

    name = "queue-listen"

    def __init__(self, notifier: WorkNotifier, url: str) -> None:
        super().__init__(notifier)
        self._conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)

    def _loop(self) -> None:
        import psycopg

        delay = 0.5
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    self.notifier.notify()  # anything sent while we were not listening
                    delay = 0.5
                    while not self._stop.is_set():
                        for notification in connection.notifies(timeout=1.0):
                            if notification.payload != self.notifier.token:
                                self.notifier.notify()
            except Exception as exc:
                if "does not exist" in str(exc):
                    return  # the database was dropped: nothing left to listen to
                logger.warning("LISTEN %s failed (%s); retrying in %.1fs", CHANNEL, exc, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, 10.0)


class SqliteWatcher(_Watcher):
    """Polls ``PRAGMA data_version`` (a cheap read) while coroutines wait: it changes when another
    connection, in any process, commits."""

    name = "queue-sqlite-watch"
    interval = 0.05

    def __init__(self, notifier: WorkNotifier, path: str) -> None:
        super().__init__(notifier)
        self._path = path

    def _loop(self) -> None:
        try:
            connection = sqlite3.connect(self._path, check_same_thread=False, timeout=5)
        except sqlite3.Error as exc:
            logger.warning("cannot watch %s for changes: %s", self._path, exc)
            return
        try:
            last = None
            idle_since = time.monotonic()
            while not self._stop.is_set():
                if self.notifier.waiting:
                    idle_since = time.monotonic()
                elif time.monotonic() - idle_since > 30:
                    return  # nobody waits: stop; the next waiter starts the thread again
                try:
                    version = connection.execute("PRAGMA data_version").fetchone()[0]
                except sqlite3.Error:
                    version = last
                if last is not None and version != last:
                    self.notifier.notify()
                last = version
                self._stop.wait(self.interval)
        finally:
            connection.close()
