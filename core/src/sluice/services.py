"""Services: the whole contract of a plugin adding a background service to the API server.

A service is a ``Service`` subclass registered through ``register_services``: ``sluice server start``
builds it as ``cls(settings)`` — the server's own settings — and calls its ``run_once`` every
``loop_seconds`` inside the server's event loop until the server stops. It reaches the server's data
through the API, with ``self.client()``: a ``sluice.client.SluiceClient`` of the API the server
serves, on the same database, whatever ``SLUICE_API_URL`` says. Nothing of ``sluice.server`` is
needed (the core's own services, which work on the database directly, are built differently).

Services must be safe with several server replicas on one database: make each round idempotent.
The client is synchronous: use it in a worker thread (``await asyncio.to_thread(...)``), never on
the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar

from sluice.settings import Settings

if TYPE_CHECKING:  # pragma: no cover
    from sluice.client import SluiceClient

__all__ = ["Service"]

logger = logging.getLogger("sluice.server.services")


class Service(ABC):
    """A loop that calls ``run_once`` every ``loop_seconds`` until stopped.

    Subclasses set ``name`` (unique among services) and ``loop_seconds`` and implement ``run_once``;
    they may override ``enabled`` to run only under some settings. An exception in one round is
    logged and the loop goes on.

    :param settings: the settings of the server the service runs in (``SLUICE_*``).
    """

    name: ClassVar[str] = "service"
    loop_seconds: ClassVar[float] = 60.0

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def enabled(cls, settings: Settings) -> bool:
        """Whether to run this service with these settings (default: yes)."""
        return True

    @abstractmethod
    async def run_once(self) -> None:
        """Do one round of work."""

    def client(self) -> SluiceClient:
        """A new client of the API this service runs beside: the core ``/api`` on the server's database.

        Synchronous: call it (and close it, ``with self.client() as client: ...``) in a worker thread.
        """
        from sluice.client import SluiceClient

        return SluiceClient(settings=self.settings.model_copy(update={"api_url": None}))

    async def run(self) -> None:
        """Call ``run_once`` every ``loop_seconds`` until ``stop``."""
        while not self._stopping.is_set():
            try:
                await self.run_once()
            except Exception:
                logger.exception("service %s failed; it runs again in %ss", self.name, self.loop_seconds)
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=self.loop_seconds)
            except TimeoutError:
                pass

    def start(self) -> asyncio.Task[None]:
        """Start the loop as a task of the running event loop."""
        self._stopping.clear()
        self._task = asyncio.create_task(self.run(), name=f"sluice-service-{self.name}")
        return self._task

    def stop_soon(self) -> None:
        """Let the current round finish and run no other (from the loop's thread)."""
        self._stopping.set()

    async def stop(self, timeout: float = 10.0) -> None:
        """Ask the loop to end after the current round and wait for it (cancel it after ``timeout``)."""
        self._stopping.set()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(self._task, timeout=timeout)
        except (TimeoutError, asyncio.CancelledError):
            self._task.cancel()
        self._task = None
