"""The 'sql' queue backend for Sluice (distribution `sluice-queue-sql`).

Claims are one transaction in the server's own database, through the store the server hands every
backend (``sluice.queues.QueueStore``): ``SELECT … FOR NO KEY UPDATE SKIP LOCKED`` on PostgreSQL, a
``BEGIN IMMEDIATE`` transaction on SQLite. Long polls wake on the store's change feed (this process,
PostgreSQL ``LISTEN/NOTIFY`` across replicas, SQLite commits by other processes) and at the expected
start time of the next known run. It imports nothing from Sluice but ``sluice.queues`` and
``sluice.hookspecs``.
"""

from __future__ import annotations

from sluice.hookspecs import Register, hookimpl


@hookimpl
def register_queue_backends(register: Register) -> None:
    """Register ``SqlQueueBackend`` under the slug 'sql'."""
    from sluice_queue_sql.backend import SqlQueueBackend

    register(SqlQueueBackend)
