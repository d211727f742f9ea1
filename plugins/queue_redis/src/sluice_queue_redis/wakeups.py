"""The backend's two threads, started on its first claim or wait (a server, not a CLI command):

- ``WakeListener`` subscribes to the index's channel and wakes this process's long polls when any
  replica announces work; ``config`` makes it read the queues again, ``reconcile`` asks for a
  rebuild. After each (re)connection it wakes them too: something may have been missed, and a Redis
  that restarted empty is rebuilt by the next claim.
- ``Rebuilder`` rebuilds the index from the database every ``SLUICE_REDIS_RECONCILE_SECONDS`` (one
  replica at a time, not again if another just did) and soon after a rebuild is asked for.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sluice_queue_redis.index import CONFIG, RECONCILE

logger = logging.getLogger("sluice.queue_redis")


class _Daemon:
    """A daemon thread started on first need, stopped by ``close``."""

    name = "daemon"

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def ensure_started(self) -> None:
        """Start the thread unless it runs already."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._loop, name=f"sluice-{self.name}", daemon=True)
                self._thread.start()

    def close(self) -> None:
        """Ask the thread to end."""
        self._stop.set()

    def _loop(self) -> None:
        raise NotImplementedError


class WakeListener(_Daemon):
    """Redis pub/sub → this process's ``work_signal``."""

    name = "redis-queue-listen"

    def __init__(self, backend: Any) -> None:
        super().__init__()
        self.backend = backend

    def _loop(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            pubsub = None
            try:
                pubsub = self.backend.index.client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(self.backend.index.channel)
                self.backend.work_signal.notify()  # anything announced while we were not listening
                delay = 0.5
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is not None:
                        self.hear(message.get("data"))
            except Exception as exc:
                logger.warning("Redis pub/sub failed (%s); listening again in %.1fs", exc, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, 10.0)
            finally:
                if pubsub is not None:
                    try:
                        pubsub.close()
                    except Exception:
                        pass

    def hear(self, data: Any) -> None:
        """Act on one message: ``<kind> <sender token>``."""
        text = data.decode() if isinstance(data, bytes) else str(data)
        kind, _, sender = text.partition(" ")
        if sender == self.backend.token:
            return  # our own: this process acted on it already
        if kind == CONFIG:
            self.backend.forget_queues()
        elif kind == RECONCILE:
            self.backend.rebuilder.trigger()
        self.backend.work_signal.notify()


class Rebuilder(_Daemon):
    """Rebuilds the index periodically and on request."""

    name = "redis-queue-rebuild"

    def __init__(self, backend: Any, every: float) -> None:
        super().__init__()
        self.backend = backend
        self.every = every
        self._asked = threading.Event()

    def trigger(self) -> None:
        """Rebuild soon (only if the thread runs: in a server)."""
        self._asked.set()

    def close(self) -> None:
        """Ask the thread to end."""
        super().close()
        self._asked.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            asked = self._asked.wait(self.every)
            self._asked.clear()
            if self._stop.is_set():
                return
            try:
                if asked or not self.backend.index.built_within(self.every / 2):
                    self.backend.rebuild()
            except Exception as exc:
                logger.warning("could not rebuild the Redis queue index (%s); trying again in %gs", exc, self.every)
