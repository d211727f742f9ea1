"""The queue backend of each database in this process, made when an app is built.

Made at ``create_app`` time, not on the first claim, because the backend subscribes to the
database's change feed then: the commits of this process (a run created by the CLI, by the
scheduler) reach it, and on PostgreSQL are announced to the replicas whose agents are waiting.
A backend is made as ``cls(store, settings)`` with the database's ``DatabaseQueueStore``.
"""

from __future__ import annotations

import inspect
import logging
import threading
from typing import Any

from sluice.errors import PluginError, SluiceError
from sluice.server.database.engine import Database
from sluice.settings import Settings

logger = logging.getLogger("sluice.server")

_backends: dict[tuple[int, str], Any] = {}
_stores: dict[int, Any] = {}
_lock = threading.Lock()


class QueueBackendUnavailable(SluiceError):
    """The configured queue backend is not installed or failed to start."""


def queue_store_for(database: Database) -> Any:
    """The ``DatabaseQueueStore`` of ``database``, made once per process."""
    found = _stores.get(id(database))
    if found is None:
        from sluice.server.queue_store import DatabaseQueueStore

        with _lock:
            found = _stores.get(id(database))
            if found is None:
                found = _stores[id(database)] = DatabaseQueueStore(database)
    return found


def queue_backend_for(database: Database, settings: Settings) -> Any:
    """The backend (``settings.queue_backend``) for ``database``, made once per process."""
    key = (id(database), settings.queue_backend)
    found = _backends.get(key)
    if found is not None:
        return found
    store = queue_store_for(database)
    with _lock:
        found = _backends.get(key)
        if found is None:
            from sluice.plugins import get_registry

            cls = get_registry("queue_backend").get(settings.queue_backend)
            _refuse_old_interface(cls)
            found = cls(store, settings)
            _backends[key] = found
    return found


def forget_queue_backend(database: Database, slug: str) -> None:
    """Close and forget the backend ``slug`` of ``database`` (tests that change its settings)."""
    with _lock:
        found = _backends.pop((id(database), slug), None)
    if found is not None:
        found.close()


def _refuse_old_interface(cls: type[Any]) -> None:
    """A backend written for ``cls(database, settings)`` would get a store it cannot use: say so."""
    try:
        parameters = list(inspect.signature(cls).parameters)
    except (TypeError, ValueError):
        return
    if parameters and parameters[0] == "database":
        raise PluginError(
            f"the queue backend {cls.__module__}.{cls.__qualname__} ('{getattr(cls, 'slug', '?')}') was written for "
            "the old interface, cls(database, settings): backends are now made as cls(store, settings) and work "
            "through a sluice.queues.QueueStore (subclass sluice.queues.QueueBackend; see docs/plugins.md)"
        )


def attach_queue_backend(app: Any) -> None:
    """Give the app its queue store and backend (``app.state.queue_store``, ``app.state.queue_backend``);
    a missing or unusable plugin is remembered and reported by the claim endpoint instead of stopping
    the whole server."""
    app.state.queue_store = queue_store_for(app.state.database)
    try:
        app.state.queue_backend = queue_backend_for(app.state.database, app.state.settings)
        app.state.queue_backend_error = None
    except SluiceError as exc:
        logger.warning("no queue backend: %s", exc)
        app.state.queue_backend = None
        app.state.queue_backend_error = str(exc)
    except Exception as exc:  # a plugin's own failure must not stop the server: claims report it
        logger.exception("the queue backend '%s' failed to start", app.state.settings.queue_backend)
        app.state.queue_backend = None
        app.state.queue_backend_error = f"the queue backend '{app.state.settings.queue_backend}' failed to start: {exc}"


def get_app_queue_backend(app: Any) -> Any:
    """The app's backend, or ``QueueBackendUnavailable`` with the reason (a 400 at the API edge)."""
    backend = getattr(app.state, "queue_backend", None)
    if backend is None:
        reason = getattr(app.state, "queue_backend_error", None) or "no queue backend is configured"
        raise QueueBackendUnavailable(f"agents cannot claim runs on this server: {reason}")
    return backend
