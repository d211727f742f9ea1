"""The 'redis' queue backend for Sluice (distribution `sluice-queue-redis`).

Redis holds the ready index of each queue (a sorted set by expected start time) and the active runs
of each queue and deployment; a claim picks and reserves runs in one Lua script, then moves them to
PENDING through the store's conditional step: the database stays the record of states. The index
follows the store's change feed and is rebuilt from the database on start, after a Redis restart or
flush, and periodically. Long polls wake through Redis pub/sub. It imports nothing from Sluice but
``sluice.queues`` and ``sluice.hookspecs``.
"""

from __future__ import annotations

from sluice.hookspecs import Register, hookimpl


@hookimpl
def register_queue_backends(register: Register) -> None:
    """Register ``RedisQueueBackend`` under the slug 'redis'."""
    from sluice_queue_redis.backend import RedisQueueBackend

    register(RedisQueueBackend)
