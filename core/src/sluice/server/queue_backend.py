"""The queue backend of each database in this process, made when an app is built.

Made at ``create_app`` time, not on the first claim, because the backend also makes this process
announce new work (e.g. ``NOTIFY`` on PostgreSQL) to the replicas whose agents are waiting.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sluice.errors import SluiceError
from sluice.server.database.engine import Database
from sluice.settings import Settings

logger = logging.getLogger("sluice.server")

_backends: dict[tuple[int, str], Any] = {}
_lock = threading.Lock()


class QueueBackendUnavailable(SluiceError):
    """The configured queue backend is not installed or failed to start."""


def queue_backend_for(database: Database, settings: Settings) -> Any:
    """The backend (``settings.queue_backend``) for ``database``, made once per process."""
    key = (id(database), settings.queue_backend)
    found = _backends.get(key)
    if found is not None:
        return found
    with _lock:
        found = _backends.get(key)
        if found is None:
            from sluice.queues import get_queue_backend_class

            found = get_queue_backend_class(settings.queue_backend)(database, settings)
            _backends[key] = found
    return found


def attach_queue_backend(app: Any) -> None:
    """Give the app its queue backend (``app.state.queue_backend``); a missing plugin is remembered
    and reported by the claim endpoint instead of stopping the whole server."""
    try:
        app.state.queue_backend = queue_backend_for(app.state.database, app.state.settings)
        app.state.queue_backend_error = None
    except SluiceError as exc:
        logger.warning("no queue backend: %s", exc)
        app.state.queue_backend = None
        app.state.queue_backend_error = str(exc)


def get_app_queue_backend(app: Any) -> Any:
    """The app's backend, or ``QueueBackendUnavailable`` with the reason (a 400 at the API edge)."""
    backend = getattr(app.state, "queue_backend", None)
    if backend is None:
        reason = getattr(app.state, "queue_backend_error", None) or "no queue backend is configured"
        raise QueueBackendUnavailable(f"agents cannot claim runs on this server: {reason}")
    return backend
