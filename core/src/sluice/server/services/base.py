"""The ``Service`` base class and the runner used by the app's lifespan.

Services are registered through the ``register_services`` hook (the core's own by the built-in
plugin ``sluice.server.builtin_services``) and read from the plugin manager's ``service`` registry.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from typing import ClassVar

from sluice.server.database.engine import Database
from sluice.settings import Settings

logger = logging.getLogger("sluice.server.services")


class Service(ABC):
    """A loop that calls ``run_once`` every ``loop_seconds`` until stopped.

    Subclasses set ``name`` and ``loop_seconds`` and implement ``run_once``. Blocking database work
    belongs in ``asyncio.to_thread`` so that the API keeps answering. An exception in one iteration
    is logged and the loop goes on.
    """

    name: ClassVar[str] = "service"
    loop_seconds: ClassVar[float] = 60.0

    def __init__(self, database: Database, settings: Settings) -> None:
        self.database = database
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


def registered_services() -> list[type[Service]]:
    """Every service class given to ``register_services`` (the core's included), sorted by name."""
    from sluice.plugins import get_registry

    return [entry.cls for entry in get_registry("service").entries()]


class ServiceRunner:
    """Starts and stops a set of services together (used by the app's lifespan)."""

    def __init__(self, services: list[Service]) -> None:
        self.services = services
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def from_registry(cls, database: Database, settings: Settings) -> ServiceRunner:
        """One instance of every registered, enabled service.

        A service that raises while asked ``enabled`` or while being built is logged and left out:
        one plugin's broken service must not keep the scheduler from running.
        """
        from sluice.plugins import get_registry

        services = []
        for entry in get_registry("service").entries():
            try:
                if entry.cls.enabled(settings):
                    services.append(entry.cls(database, settings))
            except Exception:
                logger.exception(
                    "service %s (from %s) could not be started; the other services run", entry.slug, entry.distribution
                )
        return cls(services)

    def start(self) -> None:
        """Start every service (one that fails to start is logged; the others start)."""
        self._loop = asyncio.get_running_loop()
        for service in self.services:
            logger.info("starting service %s (every %ss)", service.name, service.loop_seconds)
            try:
                service.start()
            except Exception:
                logger.exception("service %s could not be started; the other services run", service.name)

    def stop_soon(self) -> None:
        """Let every service finish its current round and run no other (callable from a signal handler).

        The server calls it when its shutdown begins: from then on it refuses new connections, so
        a service must not act on what it can no longer hear (crash detection on missed heartbeats).
        """
        if self._loop is None:
            return
        for service in self.services:
            self._loop.call_soon_threadsafe(service._stopping.set)

    async def stop(self) -> None:
        """Stop every service and wait for them."""
        await asyncio.gather(*(service.stop() for service in self.services))
