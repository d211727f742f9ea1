"""The core's own kind of service, which works on the database directly, and the runner of the
app's lifespan.

Plugins subclass the public ``sluice.services.Service`` (built as ``cls(settings)``, reaching the data
through the API). The core's services — scheduler, late runs, crash detection — subclass
``DatabaseService`` instead, built as ``cls(database, settings)``. Both are registered through the
``register_services`` hook (the core's by the built-in plugin ``sluice.server.builtin_services``) and
read from the plugin manager's ``service`` registry.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sluice.server.database.engine import Database
from sluice.services import Service
from sluice.settings import Settings

__all__ = ["DatabaseService", "Service", "ServiceRunner", "build_service", "registered_services"]

logger = logging.getLogger("sluice.server.services")


class DatabaseService(Service):
    """A core service with the server's ``Database``: built as ``cls(database, settings)``.

    Blocking database work belongs in ``asyncio.to_thread`` so that the API keeps answering.
    """

    def __init__(self, database: Database, settings: Settings) -> None:
        super().__init__(settings)
        self.database = database


def build_service(cls: type[Service], database: Database, settings: Settings) -> Service:
    """An instance of a registered service class: a ``DatabaseService`` gets the database too."""
    if issubclass(cls, DatabaseService):
        return cls(database, settings)
    return cls(settings)


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
    def from_registry(cls, database: Any, settings: Settings) -> ServiceRunner:
        """One instance of every registered, enabled service.

        A service that raises while asked ``enabled`` or while being built is logged and left out:
        one plugin's broken service must not keep the scheduler from running.
        """
        from sluice.plugins import get_registry

        services = []
        for entry in get_registry("service").entries():
            try:
                if entry.cls.enabled(settings):
                    services.append(build_service(entry.cls, database, settings))
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
            self._loop.call_soon_threadsafe(service.stop_soon)

    async def stop(self) -> None:
        """Stop every service and wait for them."""
        await asyncio.gather(*(service.stop() for service in self.services))
