"""The change feed of a database: who hears that runs, queues or deployments changed, and when.

- Session events note, during a transaction, which runs it created, deleted or moved to another
  state (from the state-history rows it inserts, the flow-run rows it writes) and whether it changed
  a work queue or a deployment. After the commit the ``ChangeFeed`` of that database hands the
  summary (a ``sluice.queues.WorkChanges``) to its subscribers, in the committing thread.
- On PostgreSQL, when a subscriber of this process wants other processes' changes, a transaction
  that may make work also sends ``NOTIFY sluice_work`` (its run ids, when there are few), so every
  replica hears it exactly when the change is visible; ``change_listeners`` holds the threads that
  listen (``LISTEN`` on PostgreSQL, ``PRAGMA data_version`` on SQLite).

Writes that bypass the session (a claim's bulk statements on its connection) are not reported: the
store's own writes are known to the backend that made them. A bulk UPDATE or DELETE of flow runs
through the session cannot name its runs: it is reported with ``complete=False``.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from sqlalchemy import event, text
from sqlalchemy.orm import Session

from sluice.queues import WorkChanges

logger = logging.getLogger("sluice.server")

CHANNEL = "sluice_work"
#: State types whose arrival may make a run claimable (SCHEDULED) or free a concurrency slot.
WAKING_STATE_TYPES = frozenset({"SCHEDULED", "COMPLETED", "FAILED", "CANCELLED", "CRASHED"})
#: Most run ids sent in one NOTIFY payload (PostgreSQL allows 8000 bytes); more: "some runs".
MAX_NOTIFIED_RUNS = 100
_PENDING = "sluice_pending_changes"


@dataclass
class PendingChanges:
    """What the current transaction of a session changed so far."""

    runs: set[UUID] = field(default_factory=set)
    queues_changed: bool = False
    deployments_changed: bool = False
    may_have_work: bool = False
    complete: bool = True

    def add_run(self, run_id: Any, state_type: Any = None) -> None:
        """Note a run written; a waking state type means there may be work."""
        if isinstance(run_id, UUID):
            self.runs.add(run_id)
        elif run_id is not None:
            try:
                self.runs.add(UUID(str(run_id)))
            except ValueError:
                self.complete = False
        else:
            self.complete = False
        if state_type in WAKING_STATE_TYPES:
            self.may_have_work = True

    @property
    def empty(self) -> bool:
        """Nothing worth reporting."""
        return not (self.runs or self.queues_changed or self.deployments_changed or self.may_have_work) and (
            self.complete
        )

    def as_changes(self, local: bool = True) -> WorkChanges:
        """The public summary."""
        return WorkChanges(
            runs=frozenset(self.runs),
            queues_changed=self.queues_changed,
            deployments_changed=self.deployments_changed,
            may_have_work=self.may_have_work,
            complete=self.complete,
            local=local,
        )


def announce_runs(session: Session, run_ids: Iterable[UUID], may_have_work: bool = True) -> None:
    """Report ``run_ids`` as changed when ``session`` commits: for writes that bypass the session's
    statement events (``COPY``, the driver's ``executemany``)."""
    pending = _pending(session)
    pending.runs.update(run_ids)
    pending.may_have_work = pending.may_have_work or may_have_work


class ChangeFeed:
    """The subscribers of one database in this process, and its listener for other processes."""

    def __init__(self, database: Any) -> None:
        self.database = database
        self.token = uuid.uuid4().hex  # sent with each NOTIFY, so our own echoes are skipped
        self._lock = threading.Lock()
        self._subscribers: list[tuple[Callable[[WorkChanges], None], bool]] = []
        self._waiting = 0
        self._listener: Any = None

    @property
    def wants_other_processes(self) -> bool:
        """Whether a subscriber here hears other processes (so this process announces its changes)."""
        return any(other for _, other in self._subscribers)

    @property
    def waiting(self) -> int:
        """How many waits are inside ``hearing_other_processes`` now."""
        return self._waiting

    def subscribe(self, callback: Callable[[WorkChanges], None], other_processes: bool = False) -> Callable[[], None]:
        """Call ``callback`` with every change (see ``QueueStore.subscribe``); returns the unsubscribe."""
        entry = (callback, other_processes)
        with self._lock:
            self._subscribers = [*self._subscribers, entry]

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers = [item for item in self._subscribers if item is not entry]

        return unsubscribe

    def publish(self, changes: WorkChanges) -> None:
        """Hand ``changes`` to the subscribers (other processes' changes only to those who asked)."""
        for callback, other_processes in self._subscribers:
            if changes.local or other_processes:
                try:
                    callback(changes)
                except Exception:  # one broken subscriber must not fail the commit it hears of
                    logger.exception("a change-feed subscriber failed")

    @contextmanager
    def hearing_other_processes(self) -> Iterator[None]:
        """Keep the listener running while inside (it is started on first need)."""
        with self._lock:
            self._waiting += 1
            if self._listener is None:
                from sluice.server.database.change_listeners import listener_for

                self._listener = listener_for(self)
        if self._listener is not None:
            self._listener.ensure_started()
        try:
            yield
        finally:
            with self._lock:
                self._waiting -= 1

    def close(self) -> None:
        """Stop the listener thread, if any."""
        if self._listener is not None:
            self._listener.close()


# -- the feeds of this process ------------------------------------------------------------------

_feeds: dict[int, ChangeFeed] = {}
_feeds_lock = threading.Lock()
_events_installed = False


def feed_of(database: Any) -> ChangeFeed:
    """The change feed of ``database`` (made, and the session events installed, on first use)."""
    key = id(database.engine.pool)
    found = _feeds.get(key)
    if found is not None:
        return found
    with _feeds_lock:
        found = _feeds.get(key)
        if found is None:
            found = _feeds[key] = ChangeFeed(database)
            _install_events()
    return found


def forget_feed(database: Any) -> None:
    """Stop and forget the feed of ``database`` (before its engine is disposed)."""
    with _feeds_lock:
        found = _feeds.pop(id(database.engine.pool), None)
    if found is not None:
        found.close()


def _install_events() -> None:
    global _events_installed
    if _events_installed:
        return
    event.listen(Session, "do_orm_execute", _on_execute)
    event.listen(Session, "before_flush", _on_flush)
    event.listen(Session, "before_commit", _before_commit)
    event.listen(Session, "after_commit", _after_commit)
    event.listen(Session, "after_rollback", _after_rollback)
    _events_installed = True


def _feed_of_session(session: Session) -> ChangeFeed | None:
    try:
        bind = session.get_bind()
    except Exception:
        return None
    return _feeds.get(id(getattr(bind, "pool", None)))


def _pending(session: Session) -> PendingChanges:
    found = session.info.get(_PENDING)
    if found is None:
        found = session.info[_PENDING] = PendingChanges()
    return found


# -- session events ----------------------------------------------------------------------------


def _on_execute(state: Any) -> None:
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    name = getattr(getattr(state.statement, "table", None), "name", None)
    if name == "work_queue":
        pending = _pending(state.session)
        pending.queues_changed = pending.may_have_work = True
    elif name == "deployment":
        pending = _pending(state.session)
        pending.deployments_changed = pending.may_have_work = True
    elif name in ("flow_run_state", "flow_run"):
        _note_run_statement(_pending(state.session), state, name)


def _note_run_statement(pending: PendingChanges, state: Any, table: str) -> None:
    parameters = state.parameters
    rows = parameters if isinstance(parameters, list) else [parameters] if parameters else []
    if not state.is_insert or not rows:
        # A bulk UPDATE or DELETE (or values compiled into the statement): which runs, we cannot say.
        pending.complete = False
        pending.may_have_work = True
        return
    id_column, type_column = ("flow_run_id", "type") if table == "flow_run_state" else ("id", "state_type")
    for row in rows:
        pending.add_run(row.get(id_column), row.get(type_column))


def _on_flush(session: Session, _context: Any, _instances: Any) -> None:
    pending: PendingChanges | None = None
    for obj in [*session.new, *session.dirty, *session.deleted]:
        name = getattr(getattr(obj, "__table__", None), "name", None)
        if name is None:
            continue
        if pending is None:
            pending = _pending(session)
        if name == "flow_run":
            if obj in session.deleted:
                pending.add_run(obj.id)
                pending.may_have_work = True  # a deleted active run frees its slot
            elif obj in session.new or _state_changed(obj):
                pending.add_run(obj.id, obj.state_type)
        elif name == "flow_run_state" and obj in session.new:
            pending.add_run(obj.flow_run_id, obj.type)
        elif name == "work_queue":
            pending.queues_changed = pending.may_have_work = True
        elif name == "deployment":
            pending.deployments_changed = pending.may_have_work = True


def _state_changed(run: Any) -> bool:
    """Whether a loaded flow-run row's state columns were changed in this flush (a rename is not)."""
    from sqlalchemy import inspect

    attributes = inspect(run).attrs
    return attributes.state_type.history.has_changes() or attributes.state_timestamp.history.has_changes()


def _before_commit(session: Session) -> None:
    pending = session.info.get(_PENDING)
    if pending is None or not pending.may_have_work:
        return
    feed = _feed_of_session(session)
    if feed is None or not feed.wants_other_processes:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": _payload(feed, pending)}
        )


def _payload(feed: ChangeFeed, pending: PendingChanges) -> str:
    runs = sorted(str(run_id) for run_id in pending.runs) if len(pending.runs) <= MAX_NOTIFIED_RUNS else None
    return json.dumps(
        {
            "token": feed.token,
            "runs": runs if pending.complete else None,
            "queues": pending.queues_changed,
            "deployments": pending.deployments_changed,
        },
        separators=(",", ":"),
    )


def changes_from_payload(payload: str) -> WorkChanges:
    """The ``WorkChanges`` a NOTIFY payload from another process describes (``may_have_work``)."""
    try:
        data = json.loads(payload)
        runs = data.get("runs")
        return WorkChanges(
            runs=frozenset(UUID(run_id) for run_id in runs or ()),
            queues_changed=bool(data.get("queues")),
            deployments_changed=bool(data.get("deployments")),
            may_have_work=True,
            complete=runs is not None,
            local=False,
        )
    except (ValueError, TypeError, AttributeError):
        return WorkChanges(may_have_work=True, complete=False, local=False)


def payload_token(payload: str) -> str | None:
    """The sending feed's token in a NOTIFY payload (None if it has none)."""
    try:
        token = json.loads(payload).get("token")
    except (ValueError, AttributeError):
        return None
    return token if isinstance(token, str) else None


def _after_commit(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if pending is None or pending.empty:
        return
    feed = _feed_of_session(session)
    if feed is not None:
        feed.publish(pending.as_changes())


def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)
