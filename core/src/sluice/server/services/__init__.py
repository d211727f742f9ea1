"""Background services of the API server (scheduler, late runs, crash detection…).

A service is a ``Service`` subclass whose ``run_once`` is called every ``loop_seconds`` inside the
server's event loop; ``sluice server start`` runs every registered service as an asyncio task for the
lifetime of the app and stops them on shutdown. Services must be safe with several server replicas
on one database (do their work in one transaction, idempotently).

Register a service class with ``register_service`` (the core's own are listed in
``CORE_SERVICES`` as import paths, so that nothing is imported until the server starts).
"""

from __future__ import annotations

from sluice.server.services.base import Service, ServiceRunner, register_service, registered_services

__all__ = ["Service", "ServiceRunner", "register_service", "registered_services"]
