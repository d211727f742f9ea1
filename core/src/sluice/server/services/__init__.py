"""Background services of the API server (scheduler, late runs, crash detection…).

A service is a ``sluice.services.Service`` subclass whose ``run_once`` is called every ``loop_seconds``
inside the server's event loop (the core's own subclass ``DatabaseService``, which has the database);
``sluice server start`` runs every registered service as an asyncio task for the lifetime of the app
and stops them on shutdown. Services must be safe with several server replicas
on one database (do their work in one transaction, idempotently).

A plugin adds a service through the ``register_services`` hook; the core's own come through the
same hook from its built-in plugin (``sluice.server.builtin_services``), so nothing is imported until
the server needs its services.
"""

from __future__ import annotations

from sluice.server.services.base import DatabaseService, Service, ServiceRunner, build_service, registered_services

__all__ = ["DatabaseService", "Service", "ServiceRunner", "build_service", "registered_services"]
